"""Items belong to their creator: others get 404, as if the item did not exist; superusers see all."""

from typing import Any

from httpx import AsyncClient
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.models.user import User
from tests.support.accounts import bearer, sign_up

ITEMS = "/api/v1/items"


async def make_item(client: AsyncClient, tokens: dict[str, Any], name: str) -> int:
    response = await client.post(ITEMS, json={"name": name}, headers=bearer(tokens))
    assert response.status_code == 201, response.text
    item_id: int = response.json()["id"]
    return item_id


async def test_items_need_a_signed_in_user(client: AsyncClient) -> None:
    response = await client.get(ITEMS)

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


async def test_another_users_item_is_a_404(client: AsyncClient) -> None:
    alice = await sign_up(client, "alice@example.com")
    mallory = await sign_up(client, "mallory@example.com")
    item_id = await make_item(client, alice, "alice's")

    for method in ("GET", "PATCH", "DELETE"):
        kwargs: dict[str, Any] = {"json": {"name": "mine now"}} if method == "PATCH" else {}
        response = await client.request(
            method, f"{ITEMS}/{item_id}", headers=bearer(mallory), **kwargs
        )
        assert response.status_code == 404, method
    listing = await client.get(ITEMS, headers=bearer(mallory))
    assert listing.json()["items"] == []
    assert (await client.get(f"{ITEMS}/{item_id}", headers=bearer(alice))).status_code == 200


async def test_item_names_are_unique_per_owner(client: AsyncClient) -> None:
    alice = await sign_up(client, "alice@example.com")
    bob = await sign_up(client, "bob@example.com")
    alices = await make_item(client, alice, "first")

    # Bob cannot see Alice's item, so its name cannot be taken for him.
    bobs = await make_item(client, bob, "first")
    again = await client.post(ITEMS, json={"name": "first"}, headers=bearer(alice))
    renamed = await client.patch(f"{ITEMS}/{bobs}", json={"name": "second"}, headers=bearer(bob))
    back = await client.patch(f"{ITEMS}/{alices}", json={"name": "second"}, headers=bearer(alice))

    assert again.status_code == 409
    assert renamed.status_code == 200
    assert back.status_code == 200


async def test_a_superuser_sees_every_item(
    client: AsyncClient, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    alice = await sign_up(client, "alice@example.com")
    admin = await sign_up(client, "admin@example.com")
    async with session_factory() as session:
        await session.execute(
            update(User).where(User.email == "admin@example.com").values(is_superuser=True)
        )
        await session.commit()
    item_id = await make_item(client, alice, "alice's")

    listing = await client.get(ITEMS, headers=bearer(admin))

    assert [item["id"] for item in listing.json()["items"]] == [item_id]
    assert (await client.get(f"{ITEMS}/{item_id}", headers=bearer(admin))).status_code == 200
