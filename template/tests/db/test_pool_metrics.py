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


def in_use(pool: str) -> float | None:
    return REGISTRY.get_sample_value("db_pool_connections_in_use", {"pool": pool})


async def scrape_pool(client: AsyncClient) -> dict[tuple[str, str], float]:
    response = await client.get("/metrics")
    return {
        (sample.name, sample.labels["pool"]): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
        if sample.name.startswith("db_pool_")
    }


async def test_a_request_holds_one_connection_of_its_pool_and_returns_it(
    settings_factory: SettingsFactory,
) -> None:
    app = create_app(settings_factory(database_pool_size=3, database_read_pool_size=2))
    seen_in_request: list[tuple[float | None, float | None]] = []

    @app.api_route("/test/in-use", methods=["GET", "POST"])
    async def read_in_use(session: SessionDep) -> None:
        await session.execute(text("SELECT 1"))
        seen_in_request.append((in_use("writes"), in_use("reads")))

    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client,
    ):
        before = (in_use("writes"), in_use("reads"))
        for method in ("GET", "POST", "GET"):
            assert (await client.request(method, "/test/in-use")).status_code == 200
        scraped = await scrape_pool(client)

    assert before == (0, 0)
    # A safe request reads on the reads' pool, any other writes on the writes'.
    assert seen_in_request == [(0, 1), (1, 0), (0, 1)]
    assert scraped == {
        ("db_pool_connections_in_use", "writes"): 0,
        ("db_pool_connections_in_use", "reads"): 0,
        ("db_pool_size", "writes"): 3,
        ("db_pool_size", "reads"): 2,
    }


async def test_a_connection_that_cannot_be_reopened_is_never_counted_as_returned(
    settings_factory: SettingsFactory,
) -> None:
    """The pool returns a connection it failed to reopen with a checkin, though none was handed out.

    As after a database restart: the pooled connection is dead, and the database still refuses.
    """
    engine = create_engine(settings_factory())
    install_pool_metrics(engine, size=1, pool="writes")
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
            in_use_again = in_use("writes")
    finally:
        await engine.dispose()

    assert in_use_again == 1
    assert in_use("writes") == 0
