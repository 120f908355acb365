"""What the in-process benchmarks share: a signed-in user with a page of items, and a GET
through the app's ASGI callable, timed in this process's CPU.

These scripts run from a rendered service's directory (`PYTHONPATH=.`), with its interpreter;
each one's docstring says how.
"""

import secrets
import time
from collections.abc import Awaitable, Callable, Iterable

import httpx
from fastapi import FastAPI

PASSWORD = secrets.token_urlsafe(16)
REQUESTS = 500
WARMUP = 50


async def signed_in_with_items(app: FastAPI) -> str:
    """A user with a page of items; its access token."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        account = {"email": "bench@example.com", "password": PASSWORD}
        await client.post("/api/v1/auth/register", json=account)
        login = await client.post("/api/v1/auth/login", json=account)
        login.raise_for_status()
        token: str = login.json()["access_token"]
        for number in range(20):
            created = await client.post(
                "/api/v1/items",
                json={"name": f"item {number}"},
                headers={"Authorization": f"Bearer {token}"},
            )
            created.raise_for_status()
    return token


Request = Callable[[], Awaitable[None]]


def getter(app: FastAPI, token: str, path: str, query: bytes = b"") -> Request:
    """One GET through the app's ASGI callable, as a server hands it over."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "scheme": "http",
        "method": "GET",
        "server": ("bench", 80),
        "client": ("127.0.0.1", 40000),
        "root_path": "",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "headers": [(b"host", b"bench"), (b"authorization", f"Bearer {token}".encode())],
    }

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, object]) -> None:
        if message["type"] == "http.response.start" and message["status"] != 200:
            raise RuntimeError(f"GET {path} answered {message['status']}")

    async def get() -> None:
        await app(dict(scope), receive, send)

    return get


async def warm_up(requests: Iterable[Request]) -> None:
    """The process's first thousands of requests fill its pools and caches: none is measured."""
    for request in requests:
        for _ in range(20 * WARMUP):
            await request()


async def cpu_ms(request: Request) -> float:
    """Milliseconds of this process's CPU per request, over `REQUESTS` after a short warm-up."""
    for _ in range(WARMUP):
        await request()
    started = time.process_time()
    for _ in range(REQUESTS):
        await request()
    return (time.process_time() - started) / REQUESTS * 1e3
