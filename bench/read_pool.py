"""CPU of one short autocommit read: on a pool whose connections stay in autocommit, against a
shared pool whose connection is switched to autocommit at checkout and back at return.

Run it with a rendered PostgreSQL service's interpreter, from the service's directory, with
DATABASE_URL naming a database it can reach (no table is read):

    cd <service> && PYTHONPATH=. DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1/postgres \\
        uv run python <template>/bench/read_pool.py

It is why the rendered service keeps a reads' pool (`DATABASE_READ_POOL_SIZE`): the figures it
prints are in the closing notes of the change that made it.
"""

import asyncio
import time

from app.core.config import get_settings
from app.db.engine import create_engine
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

READS = 3000
ROUNDS = 5


async def cpu_per_read(engine: AsyncEngine) -> float:
    """Microseconds of this process's CPU per checkout, `SELECT 1` and return."""
    query = text("SELECT 1")
    started = time.process_time()
    for _ in range(READS):
        async with engine.connect() as connection:
            await connection.execute(query)
    return (time.process_time() - started) / READS * 1e6


async def main() -> None:
    settings = get_settings()
    writes = create_engine(settings)
    engines = {
        "own autocommit pool": create_engine(settings, reads=True),
        "shared pool, switched": writes.execution_options(isolation_level="AUTOCOMMIT"),
    }
    figures: dict[str, list[float]] = {name: [] for name in engines}
    try:
        for engine in engines.values():  # warm each pool once
            await cpu_per_read(engine)
        for _ in range(ROUNDS):  # alternating, so drift hits both alike
            for name, engine in engines.items():
                figures[name].append(await cpu_per_read(engine))
    finally:
        for engine in (writes, engines["own autocommit pool"]):
            await engine.dispose()
    for name, values in figures.items():
        rounds = " ".join(f"{value:.0f}" for value in values)
        print(f"{name:24} median {sorted(values)[len(values) // 2]:.0f} us CPU per read ({rounds})")


if __name__ == "__main__":
    asyncio.run(main())
