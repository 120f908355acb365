"""What the in-process benchmarks share: the service's app running, a signed-in user with a
page of items, GETs through the app's ASGI callable, and rounds of them timed in this process's
CPU under arrangements that take turns.

These scripts run from a rendered service's directory (`PYTHONPATH=.`), with its interpreter;
each one's docstring says how.
"""

import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
from app.core.config import Settings
from app.main import create_app
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


@dataclass(frozen=True)
class Bench:
    app: FastAPI
    settings: Settings
    token: str  # the user's access token
    # users/me and a page of 20 items, each a GET with the user's token.
    endpoints: dict[str, Request]


@asynccontextmanager
async def signed_in_service() -> AsyncIterator[Bench]:
    """The app, its lifespan running, with a signed-in user and its endpoints warmed up."""
    # Limits far past the load, so that every request is counted and none refused.
    settings = Settings(
        rate_limit_default="10000000/minute",
        rate_limit_strict="1000000/minute",
        log_level="WARNING",
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        token = await signed_in_with_items(app)
        endpoints = {
            "users/me": getter(app, token, "/api/v1/users/me"),
            "items list": getter(app, token, "/api/v1/items", b"limit=20"),
        }
        await warm_up(endpoints.values())
        yield Bench(app, settings, token, endpoints)


Arrange = Callable[[], Awaitable[None]]


async def alternate(
    endpoints: dict[str, Request], arrangements: dict[str, Arrange], rounds: int
) -> dict[tuple[str, str], list[float]]:
    """Each endpoint's CPU per request under each arrangement (made by awaiting it), a figure
    per round; the arrangements take turns going first."""
    figures: dict[tuple[str, str], list[float]] = {
        (endpoint, name): [] for endpoint in endpoints for name in arrangements
    }
    order = list(arrangements.items())
    for round_number in range(rounds):
        for name, arrange in order if round_number % 2 == 0 else order[::-1]:
            await arrange()
            for endpoint, request in endpoints.items():
                figures[endpoint, name].append(await cpu_ms(request))
    return figures
