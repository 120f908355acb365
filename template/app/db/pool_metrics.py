"""Gauges of the database pools for /metrics, kept by the pools' own events, never polled.

`db_pool_connections_in_use` against `db_pool_size`, per `pool` (`writes`, `reads`), says how
close the workers are to waiting for a connection. Both are summed over the live workers under
gunicorn.
"""

from typing import Any, Literal

from prometheus_client import Gauge
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

POOL_SIZE = Gauge(
    "db_pool_size",
    "Connections the pool keeps open (DATABASE_POOL_SIZE, DATABASE_READ_POOL_SIZE).",
    ["pool"],
    multiprocess_mode="livesum",
)
CONNECTIONS_IN_USE = Gauge(
    "db_pool_connections_in_use",
    "Connections checked out of the pool right now.",
    ["pool"],
    multiprocess_mode="livesum",
)

# Marks a pool entry between its checkout and its return, in the entry's own `info`.
_CHECKED_OUT = "metrics_checked_out"


def install_pool_metrics(engine: AsyncEngine, size: int, pool: Literal["writes", "reads"]) -> None:
    """Keep the gauges for the engine's pool (of `size`); call it after create_engine.

    Listeners run in the order they were added, so a checkout listener of create_engine's that
    replaces a dead connection runs first, and only the connection finally handed out counts.
    """
    POOL_SIZE.labels(pool).set(size)
    in_use = CONNECTIONS_IN_USE.labels(pool)

    def on_checkout(
        _dbapi_connection: Any, entry: ConnectionPoolEntry, _proxy: PoolProxiedConnection
    ) -> None:
        entry.info[_CHECKED_OUT] = True
        in_use.inc()

    def on_return(_dbapi_connection: Any, entry: ConnectionPoolEntry) -> None:
        # The pool also "checks in" an entry whose reconnection failed before it was handed out.
        if entry.info.pop(_CHECKED_OUT, False):
            in_use.dec()

    sync_pool = engine.sync_engine.pool
    event.listen(sync_pool, "checkout", on_checkout)
    event.listen(sync_pool, "checkin", on_return)
    # A connection the garbage collector reclaims is detached, not checked in.
    event.listen(sync_pool, "detach", on_return)
