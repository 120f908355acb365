"""CPU per authenticated request with the in-memory rate limiter, while clients have logged in
within the strict limit's window: one storage for both limits, against the strict limit's
timestamps in a storage of their own (`RateLimiter.in_memory`).

Run it with a rendered default service's interpreter (auth=jwt, PostgreSQL, the memory limiter),
from the service's directory, with DATABASE_URL naming an empty database it may migrate:

    cd <service> && PYTHONPATH=. \\
        DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1/bench_limiter \\
        uv run python <template>/bench/limiter_memory.py

For each number of clients it makes one limiter of each kind, counts that many clients in it,
then serves users/me and a page of 20 items through the app in process (no server, no HTTP
parsing), 8 rounds alternating which arrangement goes first. First the clients are logins (0, 1,
20, 200, in the strict limit): `limits` (5.8) expires every moving window its in-memory storage
holds on each count, with a hop to a thread for each, which is why the memory limiter keeps the
strict limit apart. Then they are requests to another route (1,000 and 10,000, in the default
limit): the same expiry walks every counter of the storage on each count, so the memory
limiter's cost per request grows with the clients of the last window whatever the arrangement;
the service README says when to count in Redis instead.
"""

import asyncio
import os
import statistics
from collections.abc import Callable

from app.api.deps import service_state
from app.core.config import Settings
from app.core.rate_limit import RateLimiter
from in_process import Arrange, Bench, alternate, signed_in_service
from limits.aio.storage import MemoryStorage
from tests.support.transactions import migrate

ROUNDS = 8
Arrangement = Callable[[Settings], RateLimiter]
# Whom the clients counted before each round are: logins, or requests to another route.
SCENARIOS = (
    ("logged in lately", "strict", "POST /api/v1/auth/login", (0, 1, 20, 200)),
    ("counted on another route", "default", "GET /api/v1/info", (1_000, 10_000)),
)
ARRANGEMENTS: dict[str, Arrangement] = {
    "one storage": lambda settings: RateLimiter(MemoryStorage(), settings),
    "in_memory": RateLimiter.in_memory,
}


def address(client: int) -> str:
    """The limiter's identifier of the client numbered `client`: an address of its own."""
    return f"ip:10.{client // 62500}.{client // 250 % 250}.{client % 250}"


async def compare(
    bench: Bench, counted: tuple[str, str, int]
) -> dict[tuple[str, str], list[float]]:
    """Each endpoint's CPU per request under each arrangement, a figure per round, with `count`
    clients counted first in `limit` on `route`."""
    limit, route, count = counted

    def arrangement(make: Arrangement) -> Arrange:
        async def arrange() -> None:
            limiter = make(bench.settings)
            for client in range(count):
                await limiter.hit(limit, route, address(client))
            service_state(bench.app).rate_limiter = limiter

        return arrange

    arrangements = {name: arrangement(make) for name, make in ARRANGEMENTS.items()}
    return await alternate(bench.endpoints, arrangements, ROUNDS)


async def main() -> None:
    async with signed_in_service() as bench:
        for clients_are, limit, route, counts in SCENARIOS:
            for count in counts:
                figures = await compare(bench, (limit, route, count))
                for endpoint in bench.endpoints:
                    shared, apart = (
                        statistics.median(figures[endpoint, name]) for name in ARRANGEMENTS
                    )
                    print(
                        f"{count:6,d} clients {clients_are}, {endpoint:10}: one storage "
                        f"{shared:.3f} ms, in_memory {apart:.3f} ms of CPU per request, "
                        f"in_memory / one storage {apart / shared:.2f}"
                    )


if __name__ == "__main__":
    migrate(os.environ["DATABASE_URL"])
    asyncio.run(main())
