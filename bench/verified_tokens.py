"""CPU per authenticated request with the access tokens a worker has verified remembered
(`Security.user_id_from_access_token`, the default) against verified again on every request.

Run it with a rendered default service's interpreter (auth=jwt, PostgreSQL), from the service's
directory, with DATABASE_URL naming an empty database it may migrate:

    cd <service> && PYTHONPATH=. \\
        DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1/bench_tokens \\
        uv run python <template>/bench/verified_tokens.py

It serves users/me and a page of 20 items through the app in process (no server, no HTTP
parsing), 10 rounds alternating which arrangement goes first, and prints the median of each.
"""

import asyncio
import os
import statistics

from app.api.deps import service_state
from app.core.config import Settings
from app.main import create_app
from in_process import cpu_ms, getter, signed_in_with_items, warm_up
from tests.support.transactions import migrate

ROUNDS = 10


async def main() -> None:
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
        security = service_state(app).security
        remembered = security._verified_access_token
        arrangements = {
            "remembered": remembered,
            "verified each time": security._verify_access_token,
        }
        figures: dict[tuple[str, str], list[float]] = {
            (endpoint, name): [] for endpoint in endpoints for name in arrangements
        }
        order = list(arrangements.items())
        for round_number in range(ROUNDS):
            for name, verify in order if round_number % 2 == 0 else order[::-1]:
                security._verified_access_token = verify
                for endpoint, request in endpoints.items():
                    figures[endpoint, name].append(await cpu_ms(request))
        security._verified_access_token = remembered
        for endpoint in endpoints:
            kept, again = (statistics.median(figures[endpoint, name]) for name in arrangements)
            print(
                f"{endpoint:10}: verified each time {again:.3f} ms, remembered {kept:.3f} ms of "
                f"CPU per request, remembered / each time {kept / again:.2f}"
            )


if __name__ == "__main__":
    migrate(os.environ["DATABASE_URL"])
    asyncio.run(main())
