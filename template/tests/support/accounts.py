"""Users made through the API, as a client makes them, and their tokens."""

from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import delete

from app.core.config import Settings
from app.db.engine import create_engine
from app.db.models.user import User

PASSWORD = "correct horse battery"
JWT_SECRET = "test-secret-" + "x" * 64


async def sign_up(client: AsyncClient, email: str, password: str = PASSWORD) -> dict[str, Any]:
    """Register through the API and log in; returns the token pair."""
    registered = await client.post(
        "/api/v1/auth/register", json={"email": email, "password": password}
    )
    assert registered.status_code == 201, registered.text
    login = await client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert login.status_code == 200, login.text
    tokens: dict[str, Any] = login.json()
    return tokens


def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


async def delete_committed_user(settings: Settings, email: str) -> None:
    """Remove a user a test committed for real, outside its transaction, so others never see it."""
    engine = create_engine(settings)
    try:
        async with engine.begin() as connection:
            await connection.execute(delete(User).where(User.email == email))
    finally:
        await engine.dispose()


@pytest.fixture
async def signed_in(client: AsyncClient) -> dict[str, Any]:
    """The client sends a new user's access token with every request."""
    tokens = await sign_up(client, "owner@example.com")
    client.headers.update(bearer(tokens))
    return tokens
