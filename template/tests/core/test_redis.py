"""Redis going away: the limiter fails open (or closed, if so set) and readiness says so."""

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import pytest
from httpx import ASGITransport, AsyncClient
from redis.asyncio import Redis

from app.core.redis import PipeliningRedis
from app.main import create_app
from tests.conftest import SettingsFactory

INFO = "/api/v1/info"
# Nothing listens on port 1 of the loopback: every connection is refused at once.
UNREACHABLE_REDIS_URL = "redis://127.0.0.1:1/0"


@asynccontextmanager
async def serving(
    settings_factory: SettingsFactory, **overrides: Any
) -> AsyncIterator[AsyncClient]:
    app = create_app(settings_factory(rate_limit_default="3/day", **overrides))
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client,
    ):
        yield client


class RedisProxy:
    """A TCP relay in front of the real Redis that can be cut and restored, like a network."""

    def __init__(self, target: str) -> None:
        parts = urlsplit(target)
        self.target = (parts.hostname or "127.0.0.1", parts.port or 6379)
        self.database = parts.path or "/0"
        self.server: asyncio.Server | None = None
        self.port = 0
        self.relays: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}{self.database}"

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        """Stop listening and drop every open connection, as a stopped Redis would."""
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None
        for relay in self.relays:
            relay.cancel()
        await asyncio.gather(*self.relays, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        pipes = [
            asyncio.create_task(self._pipe(reader, upstream_writer)),
            asyncio.create_task(self._pipe(upstream_reader, writer)),
        ]
        self.relays.update(pipes)

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()


@pytest.fixture
async def redis_proxy(redis_server: str) -> AsyncIterator[RedisProxy]:
    proxy = RedisProxy(redis_server)
    await proxy.start()
    yield proxy
    await proxy.cut()


async def test_the_limiter_fails_open_while_redis_is_unreachable(
    settings_factory: SettingsFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    async with serving(settings_factory, redis_url=UNREACHABLE_REDIS_URL) as client:
        answers = [await client.get(INFO) for _ in range(5)]
        ready = await client.get("/health/ready")

    assert [response.status_code for response in answers] == [200] * 5
    assert not any("RateLimit-Limit" in response.headers for response in answers)
    # The app logs JSON lines to stderr; the outage is logged once per interval, not per request.
    events = [json.loads(line)["event"] for line in capsys.readouterr().err.splitlines()]
    assert events.count("rate_limit_storage_unavailable") == 1
    assert ready.status_code == 200
    assert ready.json()["status"] == "degraded"
    assert ready.json()["checks"]["redis"]["status"] == "failing"


async def test_fail_closed_refuses_limited_routes_while_redis_is_unreachable(
    settings_factory: SettingsFactory,
) -> None:
    async with serving(
        settings_factory, redis_url=UNREACHABLE_REDIS_URL, rate_limit_fail_open=False
    ) as client:
        refused = await client.get(INFO)
        live = await client.get("/health/live")
        ready = await client.get("/health/ready")

    assert refused.status_code == 503
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.headers["Retry-After"] == "1"
    assert refused.json()["request_id"] == refused.headers["x-request-id"]
    assert "127.0.0.1" not in refused.text
    assert live.status_code == 200
    assert ready.status_code == 503
    assert ready.json()["checks"]["redis"]["status"] == "failing"


async def test_the_limiter_rides_out_a_redis_outage(
    settings_factory: SettingsFactory, redis_proxy: RedisProxy
) -> None:
    async with serving(settings_factory, redis_url=redis_proxy.url) as client:
        before = [(await client.get(INFO)).status_code for _ in range(4)]
        await redis_proxy.cut()
        during = [(await client.get(INFO)).status_code for _ in range(4)]
        ready_during = await client.get("/health/ready")
        await redis_proxy.start()
        after = await client.get(INFO)
        ready_after = await client.get("/health/ready")

    assert before == [200, 200, 200, 429]
    assert during == [200] * 4
    assert ready_during.json()["checks"]["redis"]["status"] == "failing"
    # Redis kept its counts through the outage: the client is still over its limit.
    assert after.status_code == 429
    assert ready_after.json()["status"] == "ok"


async def test_concurrent_requests_are_counted_exactly(
    settings_factory: SettingsFactory, redis_server: str
) -> None:
    # Served concurrently, the requests' Redis calls share pipelines; each still counts once.
    prefix = f"test-{uuid.uuid4().hex}"
    async with serving(settings_factory, rate_limit_key_prefix=prefix) as client:
        answers = await asyncio.gather(*(client.get(INFO) for _ in range(8)))

    assert sorted(response.status_code for response in answers) == [200] * 3 + [429] * 5


async def test_the_limiter_reloads_its_scripts_after_redis_lost_them(
    settings_factory: SettingsFactory, redis_server: str
) -> None:
    # A restarted Redis has no scripts: the NOSCRIPT reply, sent back inside a pipeline, must
    # still reach the storage, which loads the script again.
    prefix = f"test-{uuid.uuid4().hex}"
    async with serving(settings_factory, rate_limit_key_prefix=prefix) as client:
        first = await client.get(INFO)
        redis = Redis.from_url(redis_server)
        try:
            await redis.script_flush()
        finally:
            await redis.aclose()
        after = [(await client.get(INFO)).status_code for _ in range(3)]

    assert first.headers["RateLimit-Remaining"] == "2"
    assert after == [200, 200, 429]


async def test_the_limiter_calls_redis_through_the_pipelining_client(
    settings_factory: SettingsFactory, redis_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # app/core/redis.py puts its client into limits' RedispyBridge, which is not limits' public
    # API. pyproject.toml keeps limits below its next minor release; this fails on a release
    # whose storage stops calling Redis through that client, before the bound is raised.
    commands: list[str] = []
    send = PipeliningRedis.execute_command

    async def counted(self: PipeliningRedis, *args: Any, **options: Any) -> Any:
        commands.append(str(args[0]).upper())
        return await send(self, *args, **options)

    monkeypatch.setattr(PipeliningRedis, "execute_command", counted)
    prefix = f"test-{uuid.uuid4().hex}"
    async with serving(settings_factory, rate_limit_key_prefix=prefix) as client:
        response = await client.get(INFO)

    assert response.status_code == 200
    assert "EVALSHA" in commands, commands
