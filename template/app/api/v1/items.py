"""The items resource: parse, call the service, return a schema."""

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status

from app.api.deps import ItemServiceDep
from app.api.openapi import problem_responses
from app.api.v1 import PREFIX
from app.schemas.items import ItemCreate, ItemPage, ItemRead, ItemUpdate

MAX_PAGE_SIZE = 100

router = APIRouter(prefix=f"{PREFIX}/items", tags=["items"])

ItemId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The item's id.")]


@router.post(
    "",
    operation_id="items-create",
    status_code=status.HTTP_201_CREATED,
    response_model=ItemRead,
    responses=problem_responses(400, 409, 413, 422),
)
async def create_item(
    data: ItemCreate, service: ItemServiceDep, request: Request, response: Response
) -> ItemRead:
    item = await service.create(data)
    response.headers["Location"] = str(request.app.url_path_for("get_item", item_id=item.id))
    return item


@router.get(
    "",
    operation_id="items-list",
    response_model=ItemPage,
    responses=problem_responses(422),
)
async def list_items(
    service: ItemServiceDep,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 20,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> ItemPage:
    return await service.list(limit=limit, offset=offset)


@router.get(
    "/{item_id}",
    operation_id="items-get",
    response_model=ItemRead,
    responses=problem_responses(404, 422),
)
async def get_item(item_id: ItemId, service: ItemServiceDep) -> ItemRead:
    return await service.get(item_id)


@router.patch(
    "/{item_id}",
    operation_id="items-update",
    response_model=ItemRead,
    responses=problem_responses(400, 404, 409, 413, 422),
)
async def update_item(item_id: ItemId, data: ItemUpdate, service: ItemServiceDep) -> ItemRead:
    return await service.update(item_id, data)


@router.delete(
    "/{item_id}",
    operation_id="items-delete",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problem_responses(404, 422),
)
async def delete_item(item_id: ItemId, service: ItemServiceDep) -> None:
    await service.delete(item_id)
