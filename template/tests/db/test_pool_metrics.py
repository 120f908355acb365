"""The pool gauges follow a connection out of the pool for a request, and back."""

from typing import Any

import pytest
from httpx import ASGITransport, AsyncClient
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import event, text
from sqlalchemy.pool import ConnectionPoolEntry

from app.api.deps import SessionDep
from app.db.engine import create_engine
from app.db.pool_metrics import install_pool_metrics
from app.main import create_app
from tests.conftest import SettingsFactory


def in_use() -> float | None:
    return REGISTRY.get_sample_value("db_pool_connections_in_use")


async def scrape_pool(client: AsyncClient) -> dict[str, float]:
    response = await client.get("/metrics")
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
        if sample.name.startswith("db_pool_")
    }


async def test_a_request_holds_one_connection_and_returns_it(
    settings_factory: SettingsFactory,
) -> None:
    app = create_app(settings_factory(database_pool_size=3))
    seen_in_request: list[float | None] = []

    @app.get("/test/in-use")
    async def read_in_use(session: SessionDep) -> None:
        await session.execute(text("SELECT 1"))
        seen_in_request.append(in_use())

    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client,
    ):
        before = in_use()
        for _ in range(2):
            assert (await client.get("/test/in-use")).status_code == 200
        scraped = await scrape_pool(client)

    assert before == 0
    assert seen_in_request == [1, 1]
    # One pool, which the safe requests' reads share.
    assert scraped == {"db_pool_connections_in_use": 0, "db_pool_size": 3}


async def test_a_connection_that_cannot_be_reopened_is_never_counted_as_returned(
    settings_factory: SettingsFactory,
) -> None:
    """The pool returns a connection it failed to reopen with a checkin, though none was handed out.

    As after a database restart: the pooled connection is dead, and the database still refuses.
    """
    engine = create_engine(settings_factory())
    install_pool_metrics(engine, size=1)
    refusing = False

    def refuse(_dbapi_connection: Any, _entry: ConnectionPoolEntry) -> None:
        if refusing:
            raise ConnectionRefusedError("the database is still starting")

    event.listen(engine.sync_engine.pool, "connect", refuse)
    try:
        async with engine.connect() as connection:
            await connection.invalidate()
        refusing = True
        with pytest.raises(ConnectionRefusedError):
            async with engine.connect():
                pass
        refusing = False
        async with engine.connect() as connection:
            in_use_again = in_use()
    finally:
        await engine.dispose()

    assert in_use_again == 1
    assert in_use() == 0
