"""The signed-in user's account: who am I, and changing one's password."""

from typing import Any

from httpx import AsyncClient

from tests.conftest import PASSWORD, bearer, sign_up

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
