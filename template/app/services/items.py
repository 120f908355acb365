"""The rules of the items resource. Services raise domain errors and never commit."""

from app.core.errors import ConflictError, NotFoundError
from app.db.errors import UniqueViolationError
from app.db.models import Item
from app.db.repositories.items import ItemRepository
from app.schemas.items import ItemCreate, ItemPage, ItemRead, ItemUpdate


class ItemService:
    def __init__(self, repository: ItemRepository) -> None:
        self.repository = repository

    async def create(self, data: ItemCreate) -> ItemRead:
        try:
            item = await self.repository.add(Item(**data.model_dump()))
        except UniqueViolationError as exc:
            raise ConflictError(f"An item named '{data.name}' already exists.") from exc
        return ItemRead.model_validate(item)

    async def get(self, item_id: int) -> ItemRead:
        return ItemRead.model_validate(await self._get(item_id))

    async def list(self, *, limit: int, offset: int) -> ItemPage:
        items, total = await self.repository.list(limit=limit, offset=offset)
        return ItemPage(
            items=[ItemRead.model_validate(item) for item in items],
            total=total,
            limit=limit,
            offset=offset,
        )

    async def update(self, item_id: int, data: ItemUpdate) -> ItemRead:
        item = await self._get(item_id)
        changes = data.model_dump(exclude_unset=True)
        try:
            item = await self.repository.update(item, changes)
        except UniqueViolationError as exc:
            raise ConflictError(f"An item named '{changes['name']}' already exists.") from exc
        return ItemRead.model_validate(item)

    async def delete(self, item_id: int) -> None:
        await self.repository.delete(await self._get(item_id))

    async def _get(self, item_id: int) -> Item:
        item = await self.repository.get(item_id)
        if item is None:
            raise NotFoundError(f"Item {item_id} does not exist.")
        return item
