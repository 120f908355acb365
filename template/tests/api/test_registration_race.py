"""Concurrent registrations of one address on real PostgreSQL: one 201, the rest 409, no 500."""

import asyncio

from httpx import ASGITransport, AsyncClient

from app.main import create_app
from tests.conftest import SettingsFactory
from tests.support.accounts import PASSWORD, delete_committed_user

EMAIL = "race@example.com"
CONTENDERS = 8


async def test_concurrent_registrations_of_one_email(
    settings_factory: SettingsFactory, migrated: None
) -> None:
    # An app of its own, committing for real on its own pool, so the requests truly race.
    settings = settings_factory(database_pool_size=CONTENDERS)
    app = create_app(settings)
    try:
        async with app.router.lifespan_context(app):
            transport = ASGITransport(app=app)
            async with AsyncClient(transport=transport, base_url="http://test") as client:
                responses = await asyncio.gather(
                    *(
                        client.post(
                            "/api/v1/auth/register", json={"email": EMAIL, "password": PASSWORD}
                        )
                        for _ in range(CONTENDERS)
                    )
                )
        statuses = sorted(response.status_code for response in responses)
        assert statuses == [201] + [409] * (CONTENDERS - 1)
    finally:
        await delete_committed_user(settings, EMAIL)
