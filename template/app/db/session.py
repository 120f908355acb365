"""The read-only session of safe requests, and the gate that admits requests to the database in
arrival order; `Database` (app/db/database.py) puts them to use."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session

from app.db.errors import DatabaseBusyError


class ReadOnlySessionError(RuntimeError):
    """Code serving a safe request tried to write: a bug to fix, so a 500 and a logged traceback."""


class ReadOnlySession(Session):
    """The session of a safe request: no transaction, and any write refused.

    Its connection is in autocommit, so a read costs one round trip instead of three (BEGIN,
    the query, COMMIT) and no transaction stays open while the response is built. Two
    statements of one request may see different commits: each reads what was committed when
    it ran.
    """


def _refuse_flush(_session: Session, _flush_context: Any, _instances: Any) -> None:
    raise ReadOnlySessionError(
        "A GET, HEAD or OPTIONS request changed an object: write from POST, PUT, PATCH or DELETE."
    )


def _refuse_dml(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        raise ReadOnlySessionError(
            "A GET, HEAD or OPTIONS request ran an INSERT, UPDATE or DELETE: write from POST, "
            "PUT, PATCH or DELETE."
        )


event.listen(ReadOnlySession, "before_flush", _refuse_flush)
event.listen(ReadOnlySession, "do_orm_execute", _refuse_dml)


class SessionGate:
    """Lets at most `size` sessions of one worker use the database at once, first come first served.

    SQLAlchemy's async pool gives a returned connection to whichever task asks next, so under
    load a newcomer can overtake a request that has waited for seconds, and a burst past the pool
    size opens overflow connections only to close them again on return. Requests wait here
    instead, on a semaphore as wide as the pool: asyncio's semaphore wakes its waiters in order,
    so every wait is as long as the queue ahead of it, and the pool's connections stay open.
    """

    def __init__(self, size: int, timeout: float) -> None:
        self._semaphore = asyncio.Semaphore(size)
        self._timeout = timeout

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Wait for a place, at most `timeout` seconds, and hold it until the block ends."""
        try:
            async with asyncio.timeout(self._timeout):
                await self._semaphore.acquire()
        except TimeoutError:
            raise DatabaseBusyError(self._timeout) from None
        try:
            yield
        finally:
            self._semaphore.release()
