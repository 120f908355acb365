"""The middleware stack: request IDs, security headers, allowed hosts, body limits and errors."""

import asyncio
from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from pydantic import BaseModel

from app.main import create_app
from tests.conftest import SettingsFactory, log_events

MAX_BODY = 64
BODY_READ_TIMEOUT = 0.2


class Echo(BaseModel):
    text: str


@pytest.fixture(scope="module")
async def probe(settings_factory: SettingsFactory) -> AsyncIterator[AsyncClient]:
    """An app from the real factory with two routes of its own: one echoes, one fails.
    Shared by the module's tests: the middleware keeps nothing between requests."""
    settings = settings_factory(max_body_size=MAX_BODY, body_read_timeout=BODY_READ_TIMEOUT)
    app: FastAPI = create_app(settings)

    @app.post("/test/echo")
    async def echo(body: Echo) -> Echo:
        return body

    @app.get("/test/boom")
    async def boom() -> None:
        raise RuntimeError("secret detail from /srv/app/internal.py")

    transport = ASGITransport(app=app, raise_app_exceptions=False)
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=transport, base_url="http://test") as client,
    ):
        yield client


async def test_a_request_id_is_generated_and_echoed(probe: AsyncClient) -> None:
    first = await probe.get("/health/live")
    second = await probe.get("/health/live")

    assert len(first.headers["x-request-id"]) == 32
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


async def test_a_valid_incoming_request_id_is_kept(probe: AsyncClient) -> None:
    response = await probe.get("/health/live", headers={"X-Request-ID": "upstream-1234.abc"})

    assert response.headers["x-request-id"] == "upstream-1234.abc"


@pytest.mark.parametrize("incoming", ["short", "has space in it", "x" * 129, "new\u00e9line-id"])
async def test_an_unsafe_incoming_request_id_is_replaced(probe: AsyncClient, incoming: str) -> None:
    response = await probe.get("/health/live", headers=[(b"x-request-id", incoming.encode())])

    assert response.headers["x-request-id"] != incoming
    assert len(response.headers["x-request-id"]) == 32


async def test_security_headers_are_on_every_response(probe: AsyncClient) -> None:
    for response in (await probe.get("/health/live"), await probe.get("/no/such/path")):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert "default-src 'none'" in response.headers["content-security-policy"]
        assert response.headers["cross-origin-opener-policy"] == "same-origin"
        assert response.headers["cross-origin-resource-policy"] == "same-origin"
        assert "camera=()" in response.headers["permissions-policy"]


@pytest.fixture(scope="module")
async def hosted(settings_factory: SettingsFactory) -> AsyncIterator[AsyncClient]:
    """An app that serves api.example.com and the subdomains of internal.example only."""
    app = create_app(settings_factory(allowed_hosts=["api.example.com", "*.internal.example"]))
    transport = ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=transport, base_url="http://api.example.com") as client,
    ):
        yield client


async def test_a_request_for_another_host_is_a_400_problem(hosted: AsyncClient) -> None:
    response = await hosted.get("/api/v1/info", headers={"Host": "attacker.example"})

    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == "urn:problem:invalid-host"
    assert body["instance"] == "/api/v1/info"
    assert body["request_id"] == response.headers["x-request-id"]
    assert "attacker" not in response.text


@pytest.mark.parametrize("host", ["api.example.com", "API.example.com:443", "eu.internal.example"])
async def test_allowed_hosts_and_their_subdomains_are_served(
    hosted: AsyncClient, host: str
) -> None:
    response = await hosted.get("/api/v1/info", headers={"Host": host})

    assert response.status_code == 200


async def test_the_probes_answer_whatever_the_host(hosted: AsyncClient) -> None:
    # The kubelet addresses a pod's probes by its IP.
    response = await hosted.get("/health/live", headers={"Host": "10.0.0.7:8000"})

    assert response.status_code == 200


async def test_a_problem_instance_is_the_path_sent_never_the_host(probe: AsyncClient) -> None:
    response = await probe.get("/no/such/path", headers={"Host": "attacker.example/poison?"})

    assert response.status_code == 404
    assert response.json()["instance"] == "/no/such/path"


async def test_a_declared_oversized_body_is_a_413(probe: AsyncClient) -> None:
    response = await probe.post("/test/echo", json={"text": "x" * MAX_BODY})

    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["request_id"] == response.headers["x-request-id"]


async def test_a_streamed_oversized_body_is_a_413(probe: AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"text": "'
        for _ in range(10):
            yield b"x" * 16
        yield b'"}'

    response = await probe.post(
        "/test/echo", content=chunks(), headers={"content-type": "application/json"}
    )

    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"


async def test_a_stalled_body_is_a_408_that_closes_the_connection(probe: AsyncClient) -> None:
    async def stalling() -> AsyncIterator[bytes]:
        yield b'{"text": "'
        await asyncio.sleep(30)  # never sends the rest

    response = await probe.post(
        "/test/echo", content=stalling(), headers={"content-type": "application/json"}
    )

    assert response.status_code == 408
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["connection"] == "close"
    assert response.json()["request_id"] == response.headers["x-request-id"]


async def test_a_body_within_the_limit_passes(probe: AsyncClient) -> None:
    response = await probe.post("/test/echo", json={"text": "hello"})

    assert response.status_code == 200
    assert response.json() == {"text": "hello"}


async def test_an_unhandled_error_is_a_generic_500_problem(
    probe: AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    response = await probe.get("/test/boom", headers={"X-Request-ID": "trace-me-0001"})

    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["x-content-type-options"] == "nosniff"
    body = response.json()
    assert body["request_id"] == "trace-me-0001"
    assert body["detail"] == "An unexpected error occurred."
    assert "secret" not in response.text
    assert "Traceback" not in response.text
    # The traceback goes to the log, with the request ID bound.
    errors = [line for line in log_events(capsys) if line["logger"] == "app.errors"]
    assert len(errors) == 1
    assert "Traceback" in errors[0]["exception"]
    assert errors[0]["request_id"] == "trace-me-0001"


async def test_the_access_log_names_the_route_template(
    probe: AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    await probe.get("/api/v1/info", headers={"X-Request-ID": "access-log-01"})
    await probe.get("/no/such/path")

    lines = [line for line in log_events(capsys) if line["logger"] == "app.access"]
    assert len(lines) == 2
    first, unmatched = lines
    assert first["route"] == "/api/v1/info"
    assert first["status"] == 200
    assert first["method"] == "GET"
    assert first["request_id"] == "access-log-01"
    assert float(first["duration_ms"]) >= 0
    assert unmatched["route"] == "<unmatched>"
    assert unmatched["status"] == 404
