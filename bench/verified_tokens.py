"""CPU per authenticated request with the access tokens a worker has verified remembered
(`Security.user_id_from_access_token`, the default) against verified again on every request.

Run it with a rendered default service's interpreter (auth=jwt, PostgreSQL), from the service's
directory, with DATABASE_URL naming an empty database it may migrate:

    cd <service> && PYTHONPATH=. \\
        DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1/bench_tokens \\
        uv run python <template>/bench/verified_tokens.py

First it times the check alone, the token's first use against its later ones. Then it serves
users/me and a page of 20 items through the app in process (no server, no HTTP parsing), 10
rounds alternating which arrangement goes first, and prints the median of each.
"""

import asyncio
import os
import statistics
import time
from collections.abc import Callable

from app.api.deps import service_state
from in_process import alternate, signed_in_service
from tests.support.transactions import migrate

ROUNDS = 10
CHECKS = 5000


def check_us(check: Callable[[str], object], token: str) -> float:
    """Microseconds of this process's CPU per check of `token`: the median of 5 runs."""
    runs = []
    for _ in range(5):
        started = time.process_time()
        for _ in range(CHECKS):
            check(token)
        runs.append((time.process_time() - started) / CHECKS * 1e6)
    return statistics.median(runs)


async def main() -> None:
    async with signed_in_service() as bench:
        security = service_state(bench.app).security
        remembered = security._verified_access_token
        verified, known = (
            check_us(check, bench.token)
            for check in (security._verify_access_token, security.user_id_from_access_token)
        )
        print(f"the check alone: verified {verified:.1f} µs, remembered {known:.2f} µs")

        async def remember() -> None:
            security._verified_access_token = remembered

        async def verify_each_time() -> None:
            security._verified_access_token = security._verify_access_token

        arrangements = {"remembered": remember, "verified each time": verify_each_time}
        figures = await alternate(bench.endpoints, arrangements, ROUNDS)
        await remember()
        for endpoint in bench.endpoints:
            kept, again = (statistics.median(figures[endpoint, name]) for name in arrangements)
            print(
                f"{endpoint:10}: verified each time {again:.3f} ms, remembered {kept:.3f} ms of "
                f"CPU per request, remembered / each time {kept / again:.2f}"
            )


if __name__ == "__main__":
    migrate(os.environ["DATABASE_URL"])
    asyncio.run(main())
