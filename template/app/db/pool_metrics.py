"""Gauges of the database pool for /metrics, kept by the pool's own events, never polled.

`db_pool_connections_in_use` against `db_pool_size` says how close the workers are to waiting
for a connection. Both are summed over the live workers under gunicorn.
"""

from typing import Any

from prometheus_client import Gauge
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

POOL_SIZE = Gauge(
    "db_pool_size",
    "Connections the pool keeps open (DATABASE_POOL_SIZE).",
    multiprocess_mode="livesum",
)
CONNECTIONS_IN_USE = Gauge(
    "db_pool_connections_in_use",
    "Connections checked out of the pool right now.",
    multiprocess_mode="livesum",
)

# Marks a pool entry between its checkout and its return, in the entry's own `info`.
_CHECKED_OUT = "metrics_checked_out"


def install_pool_metrics(engine: AsyncEngine, size: int) -> None:
    """Keep the gauges for the engine's pool (of `size`); call it after create_engine.

    Listeners run in the order they were added, so a checkout listener of create_engine's that
    replaces a dead connection runs first, and only the connection finally handed out counts.
    """
    POOL_SIZE.set(size)
    pool = engine.sync_engine.pool
    event.listen(pool, "checkout", _on_checkout)
    event.listen(pool, "checkin", _on_return)
    # A connection the garbage collector reclaims is detached, not checked in.
    event.listen(pool, "detach", _on_return)


def _on_checkout(
    _dbapi_connection: Any, entry: ConnectionPoolEntry, _proxy: PoolProxiedConnection
) -> None:
    entry.info[_CHECKED_OUT] = True
    CONNECTIONS_IN_USE.inc()


def _on_return(_dbapi_connection: Any, entry: ConnectionPoolEntry) -> None:
    # The pool also "checks in" an entry whose reconnection failed before it was handed out.
    if entry.info.pop(_CHECKED_OUT, False):
        CONNECTIONS_IN_USE.dec()
