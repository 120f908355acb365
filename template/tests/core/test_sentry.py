"""Sentry: started only with a DSN; one event per server error, carrying the request ID, no secret."""

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any, cast

import pytest
import sentry_sdk
import structlog
from fastapi import FastAPI, HTTPException, Request
from httpx import ASGITransport, AsyncClient
from sentry_sdk.types import Event

from app.core.errors import NotFoundError, ServiceUnavailableError
from app.core.repeats import configure_repeats
from app.core.sentry import SCRUBBED, before_send, init_sentry, sentry_options
from app.main import create_app
from tests.conftest import SettingsFactory
from tests.support.sentry import CapturingTransport

DSN = "https://public@sentry.example.com/1"
PASSWORD = "hunter2-never-sent"
REQUEST_ID = "sentry-test-0001"


def app_with_errors(settings_factory: SettingsFactory, **overrides: object) -> FastAPI:
    app = create_app(settings_factory(sentry_dsn=DSN, **overrides))

    @app.post("/boom")
    async def boom(request: Request) -> None:
        credentials = await request.json()  # a local Sentry would show, password and all
        raise RuntimeError(f"failed for {credentials['email']}")

    @app.get("/busy")
    async def busy() -> None:
        raise ServiceUnavailableError("The ledger is busy.")

    @app.get("/upstream")
    async def upstream() -> None:
        raise HTTPException(502, "The upstream answered nonsense.")

    @app.get("/missing")
    async def missing() -> None:
        raise NotFoundError("No such ledger.")

    return app


@pytest.fixture
def sentry_events(settings_factory: SettingsFactory) -> Iterator[list[Event]]:
    transport = CapturingTransport()
    sentry_sdk.init(**sentry_options(settings_factory(sentry_dsn=DSN)), transport=transport)
    yield transport.events
    sentry_sdk.get_client().close()
    sentry_sdk.init()  # back to a client that sends nothing


def client_of(app: FastAPI) -> AsyncClient:
    return AsyncClient(transport=ASGITransport(app=app), base_url="http://test")


def test_sentry_starts_only_when_a_dsn_is_set(
    settings_factory: SettingsFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[dict[str, object]] = []
    monkeypatch.setattr(sentry_sdk, "init", lambda **options: calls.append(options))

    assert init_sentry(settings_factory()) is False
    assert init_sentry(settings_factory(sentry_dsn=DSN, environment="staging", version="1.2.3"))

    assert len(calls) == 1
    assert calls[0]["dsn"] == DSN
    assert calls[0]["environment"] == "staging"
    assert calls[0]["release"] == "1.2.3"
    assert calls[0]["traces_sample_rate"] == 0.0


async def test_unhandled_error_sends_one_event_with_request_id_and_no_secret(
    settings_factory: SettingsFactory, sentry_events: list[Event]
) -> None:
    async with client_of(app_with_errors(settings_factory)) as client:
        response = await client.post(
            "/boom",
            json={"email": "someone@example.com", "password": PASSWORD},
            headers={
                "X-Request-ID": REQUEST_ID,
                "Authorization": "Bearer token-never-sent",
                "Cookie": "session=cookie-never-sent",
            },
        )

    assert response.status_code == 500
    assert response.json()["request_id"] == REQUEST_ID
    assert len(sentry_events) == 1
    (event,) = sentry_events
    assert event["tags"]["request_id"] == REQUEST_ID
    assert event["tags"]["http_status"] == "500"
    assert event["exception"]["values"][-1]["type"] == "RuntimeError"
    sent = json.dumps(event, default=str)
    for secret in (PASSWORD, "token-never-sent", "cookie-never-sent"):
        assert secret not in sent


async def test_the_log_lines_before_an_error_are_its_breadcrumbs(
    settings_factory: SettingsFactory, sentry_events: list[Event]
) -> None:
    app = app_with_errors(settings_factory)

    @app.get("/logged")
    async def logged() -> None:
        structlog.get_logger("app.ledger").info("ledger_opened", ledger="main")
        logging.getLogger("some.library").warning("the library had trouble")
        raise RuntimeError("the ledger broke")

    async with client_of(app) as client:
        response = await client.get("/logged", headers={"X-Request-ID": REQUEST_ID})

    assert response.status_code == 500
    (event,) = sentry_events
    crumbs = cast(dict[str, list[dict[str, Any]]], event["breadcrumbs"])["values"]
    # The app's own lines skip stdlib logging; the libraries' pass through it: one crumb each.
    [app_line] = [crumb for crumb in crumbs if crumb["category"] == "app.ledger"]
    [library_line] = [crumb for crumb in crumbs if crumb["category"] == "some.library"]
    assert (app_line["message"], app_line["level"]) == ("ledger_opened", "info")
    assert app_line["data"]["ledger"] == "main"
    assert app_line["data"]["request_id"] == REQUEST_ID
    assert library_line["message"] == "the library had trouble"
    assert library_line["level"] == "warning"


async def test_server_errors_are_sent_with_detail_and_client_errors_are_not(
    settings_factory: SettingsFactory, sentry_events: list[Event]
) -> None:
    async with client_of(app_with_errors(settings_factory)) as client:
        statuses = [
            (await client.get(path)).status_code
            for path in ("/busy", "/upstream", "/missing", "/no-such-path")
        ]

    assert statuses == [503, 502, 404, 404]
    assert [event["tags"]["http_status"] for event in sentry_events] == ["503", "502"]
    assert [event["extra"]["detail"] for event in sentry_events] == [
        "The ledger is busy.",
        "The upstream answered nonsense.",
    ]
    assert [event["extra"]["status"] for event in sentry_events] == [503, 502]
    assert all(event["extra"]["request_id"] for event in sentry_events)


async def test_an_outage_is_reported_once_per_interval_not_per_request(
    settings_factory: SettingsFactory, sentry_events: list[Event]
) -> None:
    async with client_of(app_with_errors(settings_factory)) as client:
        statuses = {(await client.get("/busy")).status_code for _ in range(100)}
        upstream = (await client.get("/upstream")).status_code

    assert statuses == {503}
    assert upstream == 502
    assert [event["tags"]["http_status"] for event in sentry_events] == ["503", "502"]
    assert sentry_events[0]["extra"]["left_out"] == 0


def test_an_unreachable_sentry_is_logged_once_per_interval(
    settings_factory: SettingsFactory, caplog: pytest.LogCaptureFixture
) -> None:
    configure_repeats(10.0)
    # Nothing listens on port 1: every envelope fails to send, as with Sentry down.
    assert init_sentry(settings_factory(sentry_dsn="http://public@127.0.0.1:1/1"))
    try:
        with caplog.at_level(logging.WARNING):
            for number in range(5):
                sentry_sdk.capture_message(f"event {number}")
            sentry_sdk.flush(timeout=5)
    finally:
        sentry_sdk.get_client().close()
        sentry_sdk.init()

    # urllib3 logs each retry of each envelope: twenty lines or more without the summary.
    transport_lines = [
        record
        for record in caplog.records
        if record.name in {"sentry_sdk.errors", "urllib3.connectionpool"}
    ]
    assert len(transport_lines) == 1


async def test_client_errors_are_sent_when_asked(
    settings_factory: SettingsFactory, sentry_events: list[Event]
) -> None:
    app = app_with_errors(settings_factory, sentry_report_client_errors=True)
    async with client_of(app) as client:
        response = await client.get("/missing")

    assert response.status_code == 404
    assert [event["extra"]["detail"] for event in sentry_events] == ["No such ledger."]


def test_before_send_scrubs_secrets_wherever_they_are() -> None:
    event: Event = {
        "request": {
            "headers": {"Authorization": "Bearer abc", "Accept": "application/json"},
            "cookies": {"session": "abc"},
            "data": {"user": {"email": "a@example.com", "new_password": "abc"}},
        },
        "extra": {"scope": {"headers": [["b'authorization'", "b'Bearer abc'"]]}},
    }

    scrubbed = before_send(event, {})

    assert scrubbed is not None
    request = scrubbed["request"]
    assert request["headers"] == {"Authorization": SCRUBBED, "Accept": "application/json"}
    assert request["cookies"] == SCRUBBED
    assert request["data"] == {"user": {"email": "a@example.com", "new_password": SCRUBBED}}
    assert scrubbed["extra"]["scope"] == {"headers": [["b'authorization'", SCRUBBED]]}


async def streamed(body: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(body), 256):
        yield body[start : start + 256]


@pytest.mark.parametrize("dsn", [DSN, None], ids=["sentry-on", "sentry-closed"])
@pytest.mark.parametrize(
    ("body", "status"),
    [(b'{"email": "a\\u0000b"}', 422), (b'{"email": "' + b"x" * 2000 + b'"}', 413)],
    ids=["unstorable-text", "streamed-past-the-limit"],
)
async def test_a_refused_body_is_answered_once_sentry_has_run(
    settings_factory: SettingsFactory, body: bytes, status: int, dsn: str | None
) -> None:
    # Sentry's integrations stay in place for the process once it has started, with a DSN or
    # after its client is closed; they read a refused request's body again, and nothing may
    # wait for a body that never comes.
    sentry_sdk.init(
        **sentry_options(settings_factory(sentry_dsn=DSN)), transport=CapturingTransport()
    )
    if dsn is None:
        sentry_sdk.get_client().close()
        sentry_sdk.init()
    app = app_with_errors(settings_factory, max_body_size=1000)
    try:
        async with client_of(app) as client:
            response = await asyncio.wait_for(
                client.post("/boom", content=body, headers={"content-type": "application/json"})
                if status == 422
                else client.post(
                    "/boom", content=streamed(body), headers={"content-type": "application/json"}
                ),
                timeout=10,
            )
    finally:
        sentry_sdk.get_client().close()
        sentry_sdk.init()

    assert response.status_code == status, response.text
