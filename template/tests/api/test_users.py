"""The signed-in user's account: who am I, and changing one's password."""

from typing import Any

from httpx import ASGITransport, AsyncClient

from app.api.deps import service_state
from app.main import create_app
from tests.conftest import SettingsFactory
from tests.support.accounts import PASSWORD, bearer, delete_committed_user, sign_up

ME = "/api/v1/users/me"


async def test_me_answers_the_signed_in_user(client: AsyncClient) -> None:
    tokens = await sign_up(client, "ada@example.com")

    response = await client.get(ME, headers=bearer(tokens))

    assert response.status_code == 200
    assert response.json()["email"] == "ada@example.com"


async def test_changing_the_password(client: AsyncClient) -> None:
    tokens = await sign_up(client, "ada@example.com")
    new = {"current_password": PASSWORD, "new_password": "a brand new passphrase"}

    response = await client.post(f"{ME}/password", json=new, headers=bearer(tokens))

    assert response.status_code == 204
    old_login = await client.post(
        "/api/v1/auth/login", json={"email": "ada@example.com", "password": PASSWORD}
    )
    new_login = await client.post(
        "/api/v1/auth/login", json={"email": "ada@example.com", "password": new["new_password"]}
    )
    assert old_login.status_code == 401
    assert new_login.status_code == 200
    # The sessions of the old password are over.
    refresh = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert refresh.status_code == 401


async def test_a_wrong_current_password_is_forbidden(client: AsyncClient) -> None:
    tokens: dict[str, Any] = await sign_up(client, "ada@example.com")

    response = await client.post(
        f"{ME}/password",
        json={"current_password": "not it at all", "new_password": "a brand new passphrase"},
        headers=bearer(tokens),
    )

    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"


async def test_the_principal_lookup_needs_one_place_at_the_gate(
    settings_factory: SettingsFactory, migrated: None
) -> None:
    # An app of its own, committing for real: the lookup opens its own connection here, where
    # the other tests hand it their transaction's. With one place at each gate, a request that
    # held its session while the lookup waited for a second place would time out with a 503.
    email = "lookup@example.com"
    settings = settings_factory(
        database_pool_size=1, database_read_pool_size=1, database_pool_timeout=0.2
    )
    app = create_app(settings)
    try:
        async with app.router.lifespan_context(app):
            transport = ASGITransport(app=app)
            async with AsyncClient(transport=transport, base_url="http://test") as client:
                signed_in = bearer(await sign_up(client, email))
                me = await client.get(ME, headers=signed_in)
                # The item service takes the session first: the lookup reads on its connection.
                listed = await client.get("/api/v1/items", headers=signed_in)
                deleted = await client.delete("/api/v1/items/999999", headers=signed_in)
                database = service_state(app).database
                async with database.read_gate.turn():
                    busy = await client.get(ME, headers=signed_in)
    finally:
        await delete_committed_user(settings, email)

    assert me.status_code == 200
    assert me.json()["email"] == email
    assert listed.status_code == 200
    assert deleted.status_code == 404
    # The lookup waits its turn like a session does, and a wait too long is the usual 503.
    assert busy.status_code == 503
    assert busy.headers["content-type"] == "application/problem+json"
    assert busy.headers["retry-after"] == "1"
