"""The items resource end to end: router, service, repository and a real database."""

from datetime import datetime
from typing import Any

import pytest
from httpx import AsyncClient

ITEMS = "/api/v1/items"


async def create(client: AsyncClient, name: str = "widget", **fields: Any) -> dict[str, Any]:
    response = await client.post(ITEMS, json={"name": name, **fields})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["request_id"] == response.headers["x-request-id"]
    return body


async def test_create_returns_201_with_location(client: AsyncClient) -> None:
    response = await client.post(ITEMS, json={"name": " widget ", "description": "small"})

    assert response.status_code == 201
    body = response.json()
    assert body["name"] == "widget"
    assert body["description"] == "small"
    assert response.headers["location"] == f"{ITEMS}/{body['id']}"
    assert datetime.fromisoformat(body["created_at"]).tzinfo is not None


async def test_duplicate_name_is_a_409_conflict(client: AsyncClient) -> None:
    await create(client, "widget")

    body = assert_problem(await client.post(ITEMS, json={"name": "widget"}), 409)

    assert body["type"] == "urn:problem:conflict"
    assert "widget" in body["detail"]


async def test_get_returns_the_item(client: AsyncClient) -> None:
    item = await create(client)

    response = await client.get(f"{ITEMS}/{item['id']}")

    assert response.status_code == 200
    assert response.json() == item


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
async def test_missing_item_is_a_404(client: AsyncClient, method: str) -> None:
    kwargs: dict[str, Any] = {"json": {"name": "x"}} if method == "PATCH" else {}

    body = assert_problem(await client.request(method, f"{ITEMS}/999999", **kwargs), 404)

    assert body["detail"] == "Item 999999 does not exist."
    assert body["instance"] == f"{ITEMS}/999999"


async def test_list_pages_in_id_order(client: AsyncClient) -> None:
    for name in ("a", "b", "c"):
        await create(client, name)

    first = (await client.get(ITEMS, params={"limit": 2})).json()
    second = (await client.get(ITEMS, params={"limit": 2, "offset": 2})).json()

    assert [item["name"] for item in first["items"]] == ["a", "b"]
    assert [item["name"] for item in second["items"]] == ["c"]
    assert first["total"] == second["total"] == 3
    assert (first["limit"], second["offset"]) == (2, 2)


@pytest.mark.parametrize("params", [{"limit": 101}, {"limit": 0}, {"offset": -1}, {"limit": "x"}])
async def test_list_bounds_are_enforced(client: AsyncClient, params: dict[str, Any]) -> None:
    body = assert_problem(await client.get(ITEMS, params=params), 422)

    assert body["errors"][0]["loc"][0] == "query"


async def test_update_changes_only_the_fields_sent(client: AsyncClient) -> None:
    item = await create(client, "widget", description="old")

    response = await client.patch(f"{ITEMS}/{item['id']}", json={"description": "new"})

    assert response.status_code == 200
    assert response.json()["name"] == "widget"
    assert response.json()["description"] == "new"


async def test_update_to_a_taken_name_is_a_409(client: AsyncClient) -> None:
    await create(client, "first")
    second = await create(client, "second")

    assert_problem(await client.patch(f"{ITEMS}/{second['id']}", json={"name": "first"}), 409)


async def test_delete_answers_204_and_removes(client: AsyncClient) -> None:
    item = await create(client)

    response = await client.delete(f"{ITEMS}/{item['id']}")

    assert response.status_code == 204
    assert response.content == b""
    assert_problem(await client.get(f"{ITEMS}/{item['id']}"), 404)


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"name": ""},
        {"name": "x" * 101},
        {"name": "ok", "unknown": 1},
        {"name": None},
        {"name": "ok", "description": "x" * 1001},
    ],
)
async def test_invalid_bodies_are_422_with_errors(
    client: AsyncClient, payload: dict[str, Any]
) -> None:
    body = assert_problem(await client.post(ITEMS, json=payload), 422)

    assert body["errors"]
    assert all(set(error) == {"loc", "msg", "type"} for error in body["errors"])


async def test_null_name_on_update_is_refused(client: AsyncClient) -> None:
    item = await create(client)

    assert_problem(await client.patch(f"{ITEMS}/{item['id']}", json={"name": None}), 422)


async def test_malformed_json_is_a_problem_not_a_500(client: AsyncClient) -> None:
    response = await client.post(
        ITEMS, content=b'{"name": ', headers={"content-type": "application/json"}
    )

    assert_problem(response, 422)


async def test_path_id_out_of_range_is_a_422(client: AsyncClient) -> None:
    assert_problem(await client.get(f"{ITEMS}/0"), 422)
    assert_problem(await client.get(f"{ITEMS}/{2**40}"), 422)
