"""Microseconds to find a request's route: the app's own routes, against the same routers included.

Run it with a rendered service's interpreter, from the service's directory:

    cd <service> && PYTHONPATH=. uv run python <template>/bench/route_match.py

It is why `app/main.py` adds each router's routes to the app instead of `app.include_router`.
"""

import time

from app.api import health
from app.api.v1.router import collect_routers
from app.main import create_app
from fastapi import FastAPI
from starlette.routing import Match
from starlette.types import Scope

MATCHES = 20_000
REQUESTS = [("GET", "/health/live"), ("GET", "/api/v1/info"), ("GET", "/api/v1/users/me")]


def included() -> FastAPI:
    """The service's routers included the usual way, each a layer of its own."""
    app = FastAPI()
    app.include_router(health.router)
    for router in collect_routers():
        app.include_router(router)
    return app


def microseconds_to_match(app: FastAPI, method: str, path: str) -> float | None:
    scope: Scope = {"type": "http", "method": method, "path": path, "root_path": ""}
    started = time.perf_counter()
    for _ in range(MATCHES):
        for route in app.router.routes:
            if route.matches(dict(scope))[0] == Match.FULL:
                break
        else:
            return None  # this answer's service has no such route
    return (time.perf_counter() - started) / MATCHES * 1e6


def main() -> None:
    apps = {"the app's own routes": create_app(), "included routers": included()}
    for method, path in REQUESTS:
        for name, app in apps.items():
            cost = microseconds_to_match(app, method, path)
            shown = "no such route" if cost is None else f"{cost:.1f} us"
            print(f"{method} {path:22} {name:22} {shown}")


if __name__ == "__main__":
    main()
