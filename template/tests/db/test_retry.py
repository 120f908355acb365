"""Connecting is retried within its bound; start-up waits for the database, then gives up clearly."""

import asyncio
import time
from typing import Any

import pytest
from httpx import ASGITransport, AsyncClient
from tenacity import stop_after_attempt

from app.core.logging import configure_logging
from app.db.errors import DatabaseUnavailableError
from app.db.retry import ConnectRetry
from app.main import create_app
from tests.conftest import SettingsFactory, log_events

# Waits of a few milliseconds keep the tests fast; the policy is the same as in production.
QUICK_RETRIES = {"database_retry_initial_wait": 0.01, "database_retry_max_wait": 0.02}
# Requests at once during an outage: each would write two lines and a retry without the gate.
OUTAGE = 40


def named(events: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [event for event in events if event["event"] == name]


async def test_a_request_retries_connecting_up_to_its_bound_then_answers_503(
    settings_factory: SettingsFactory,
    unreachable_database_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = settings_factory(
        database_url=unreachable_database_url,
        database_startup_timeout=0,
        database_connect_attempts=3,
        log_repeat_interval=0,  # every retry logged: a second one would be summarised
        **QUICK_RETRIES,
    )
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client,
    ):
        response = await client.get("/api/v1/items")

    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == "5"
    assert response.json()["request_id"] == response.headers["x-request-id"]
    assert "127.0.0.1" not in response.text
    events = log_events(capsys)
    retries = named(events, "retry")
    assert [(event["operation"], event["attempt"]) for event in retries] == [
        ("database_connect", 1),
        ("database_connect", 2),
    ]
    assert all(0 <= event["wait"] <= 0.02 for event in retries)
    [exhausted] = named(events, "retries_exhausted")
    assert exhausted["attempts"] == 3


async def test_an_outage_writes_a_bounded_number_of_lines(
    settings_factory: SettingsFactory,
    unreachable_database_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = settings_factory(
        database_url=unreachable_database_url,
        database_startup_timeout=0,
        database_connect_attempts=3,
        log_repeat_interval=60,
        **QUICK_RETRIES,
    )
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client,
    ):
        responses = await asyncio.gather(*(client.get("/api/v1/items") for _ in range(OUTAGE)))

    assert {response.status_code for response in responses} == {503}
    events = log_events(capsys)
    # The first retry and the first exhausted retries; the requests after them repeat those.
    assert [event["event"] for event in events if event["level"] != "info"] == [
        "retry",
        "retries_exhausted",
    ]


async def test_an_error_that_will_not_pass_is_not_retried(
    settings_factory: SettingsFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(settings_factory())
    retry = ConnectRetry(
        "database_connect", stop=stop_after_attempt(5), initial_wait=0.01, max_wait=0.02
    )
    calls = 0

    async def connect() -> None:
        nonlocal calls
        calls += 1
        raise ValueError("not a connection problem")

    with pytest.raises(ValueError, match="not a connection problem"):
        await retry.run(connect)

    assert calls == 1
    assert named(log_events(capsys), "retry") == []


async def test_start_up_waits_for_the_database_then_gives_up_with_a_clear_error(
    settings_factory: SettingsFactory,
    unreachable_database_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = settings_factory(
        database_url=unreachable_database_url,
        database_startup_timeout=0.3,
        log_repeat_interval=0,
        **QUICK_RETRIES,
    )
    app = create_app(settings)
    started = time.monotonic()

    with pytest.raises(
        DatabaseUnavailableError, match="database_startup: the database could not be reached"
    ):
        async with app.router.lifespan_context(app):
            pytest.fail("the service started without its database")

    # 0.3 s of retries, 10-20 ms apart: several even on a loaded machine, and then it stops.
    assert time.monotonic() - started < 5
    events = log_events(capsys)
    retries = named(events, "retry")
    assert len(retries) >= 2
    assert {event["operation"] for event in retries} == {"database_startup"}
    [exhausted] = named(events, "retries_exhausted")
    assert exhausted["attempts"] == len(retries) + 1
