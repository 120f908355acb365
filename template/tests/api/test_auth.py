"""Registration, login (JSON and OAuth2 form), refresh rotation and logout."""

from typing import Any

from httpx import AsyncClient
from pwdlib.hashers.bcrypt import BcryptHasher
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.models.user import User
from tests.conftest import SettingsFactory
from tests.support.accounts import PASSWORD, bearer, sign_up

AUTH = "/api/v1/auth"


def assert_unauthorized(response: Any) -> dict[str, Any]:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"] == "Bearer"
    body: dict[str, Any] = response.json()
    assert body["request_id"] == response.headers["x-request-id"]
    return body


async def test_register_returns_the_user_without_its_password(client: AsyncClient) -> None:
    response = await client.post(
        f"{AUTH}/register", json={"email": " Ada@Example.COM ", "password": PASSWORD}
    )

    assert response.status_code == 201
    body = response.json()
    assert body["email"] == "ada@example.com"
    assert body["is_active"] is True
    assert body["is_superuser"] is False
    assert "password" not in response.text


async def test_the_document_says_what_an_email_must_look_like(client: AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    email = document["components"]["schemas"]["UserCreate"]["properties"]["email"]

    assert (
        email["pattern"]
        == r"^\s*[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+\.[^@\s\x00-\x1f\x7f]+\s*$"
    )
    for address in ("no-at-sign", "ada\x03@example.com", "ada@exa\x7fmple.com"):
        refused = await client.post(
            "/api/v1/auth/register", json={"email": address, "password": PASSWORD}
        )
        assert refused.status_code == 422, address


async def test_an_email_is_taken_whatever_its_case(client: AsyncClient) -> None:
    await sign_up(client, "ada@example.com")

    response = await client.post(
        f"{AUTH}/register", json={"email": "ADA@example.com", "password": PASSWORD}
    )

    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"


async def test_the_password_policy_bounds_its_length(client: AsyncClient) -> None:
    for password in ("short", "x" * 129):
        response = await client.post(
            f"{AUTH}/register", json={"email": "ada@example.com", "password": password}
        )
        assert response.status_code == 422
        assert response.json()["errors"][0]["loc"] == ["body", "password"]


async def test_login_with_json_and_with_the_oauth2_form(
    client: AsyncClient, settings_factory: SettingsFactory
) -> None:
    await sign_up(client, "ada@example.com")
    lifetime = settings_factory().access_token_minutes * 60

    json_login = await client.post(
        f"{AUTH}/login", json={"email": "ADA@example.com", "password": PASSWORD}
    )
    form_login = await client.post(
        f"{AUTH}/token", data={"username": "ada@example.com", "password": PASSWORD}
    )

    for response in (json_login, form_login):
        assert response.status_code == 200, response.text
        tokens = response.json()
        assert tokens["token_type"] == "bearer"
        assert tokens["expires_in"] == lifetime
        me = await client.get("/api/v1/users/me", headers=bearer(tokens))
        assert me.json()["email"] == "ada@example.com"


async def test_login_never_says_which_part_was_wrong(client: AsyncClient) -> None:
    await sign_up(client, "ada@example.com")

    wrong_password = await client.post(
        f"{AUTH}/login", json={"email": "ada@example.com", "password": "not the password"}
    )
    unknown_user = await client.post(
        f"{AUTH}/login", json={"email": "nobody@example.com", "password": PASSWORD}
    )

    assert (
        assert_unauthorized(wrong_password)["detail"]
        == (assert_unauthorized(unknown_user)["detail"])
    )


async def test_the_document_offers_only_what_the_login_form_accepts(client: AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    [(name, form)] = [
        (name, schema)
        for name, schema in document["components"]["schemas"].items()
        if "grant_type" in schema.get("properties", {})
    ]

    # A form cannot carry null, and an empty field reads as a missing one.
    assert form["properties"]["grant_type"]["const"] == "password"
    assert "anyOf" not in form["properties"]["grant_type"]
    assert form["properties"]["username"]["minLength"] == 1
    assert form["properties"]["password"]["minLength"] == 1
    empty = await client.post(f"{AUTH}/token", data={"username": "", "password": PASSWORD})
    assert empty.status_code == 422, name


async def test_a_form_login_no_database_could_hold_is_refused(client: AsyncClient) -> None:
    # The OAuth2 form escapes the JSON bodies' validation; a NUL reached PostgreSQL as a 500.
    for username, password in (("ada\x00@example.com", PASSWORD), ("ada@example.com", "\x00")):
        response = await client.post(
            f"{AUTH}/token", data={"username": username, "password": password}
        )

        assert_unauthorized(response)


async def test_refresh_rotates_the_refresh_token(client: AsyncClient) -> None:
    first = await sign_up(client, "ada@example.com")

    response = await client.post(f"{AUTH}/refresh", json={"refresh_token": first["refresh_token"]})

    assert response.status_code == 200
    second = response.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert (await client.get("/api/v1/users/me", headers=bearer(second))).status_code == 200
    again = await client.post(f"{AUTH}/refresh", json={"refresh_token": second["refresh_token"]})
    assert again.status_code == 200


async def test_logout_revokes_the_family(client: AsyncClient) -> None:
    tokens = await sign_up(client, "ada@example.com")
    rotated = (
        await client.post(f"{AUTH}/refresh", json={"refresh_token": tokens["refresh_token"]})
    ).json()

    response = await client.post(f"{AUTH}/logout", json={"refresh_token": rotated["refresh_token"]})

    assert response.status_code == 204
    assert_unauthorized(
        await client.post(f"{AUTH}/refresh", json={"refresh_token": rotated["refresh_token"]})
    )


async def test_logout_of_an_unknown_token_is_quietly_done(client: AsyncClient) -> None:
    response = await client.post(f"{AUTH}/logout", json={"refresh_token": "never-issued"})

    assert response.status_code == 204


async def test_a_legacy_bcrypt_hash_verifies_and_is_upgraded(
    client: AsyncClient, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    await sign_up(client, "legacy@example.com")
    legacy_hash = BcryptHasher(rounds=4).hash(PASSWORD)
    async with session_factory() as session:
        user = await session.scalar(select(User).where(User.email == "legacy@example.com"))
        assert user is not None
        user.password_hash = legacy_hash
        await session.commit()

    response = await client.post(
        f"{AUTH}/login", json={"email": "legacy@example.com", "password": PASSWORD}
    )

    assert response.status_code == 200
    async with session_factory() as session:
        stored = await session.scalar(
            select(User.password_hash).where(User.email == "legacy@example.com")
        )
    assert stored is not None
    assert stored.startswith("$argon2id$")
