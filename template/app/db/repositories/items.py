"""Queries on the items table; the only place that builds them."""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.errors import UniqueViolationError
from app.db.models import Item


class ItemRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, item_id: int) -> Item | None:
        return await self.session.get(Item, item_id)

    async def list(self, *, limit: int, offset: int) -> tuple[Sequence[Item], int]:
        page = await self.session.scalars(
            select(Item).order_by(Item.id).limit(limit).offset(offset)
        )
        total = await self.session.scalar(select(func.count()).select_from(Item))
        return page.all(), total or 0

    async def add(self, item: Item) -> Item:
        self.session.add(item)
        await self._flush()
        await self.session.refresh(item)
        return item

    async def update(self, item: Item, changes: dict[str, Any]) -> Item:
        for field, value in changes.items():
            setattr(item, field, value)
        await self._flush()
        await self.session.refresh(item)
        return item

    async def delete(self, item: Item) -> None:
        await self.session.delete(item)
        await self.session.flush()

    async def _flush(self) -> None:
        # Flushing here makes a unique violation surface now, as a typed error, not at commit.
        try:
            await self.session.flush()
        except IntegrityError as exc:
            if not _is_unique_violation(exc):
                raise
            raise UniqueViolationError(_constraint_name(exc)) from exc


def _is_unique_violation(exc: IntegrityError) -> bool:
    # asyncpg reports SQLSTATE 23505; sqlite says "UNIQUE constraint failed".
    sqlstate = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return sqlstate == "23505" or "UNIQUE constraint failed" in str(exc.orig)


def _constraint_name(exc: IntegrityError) -> str | None:
    name = getattr(getattr(exc.orig, "__cause__", None), "constraint_name", None)
    return name if isinstance(name, str) else None
