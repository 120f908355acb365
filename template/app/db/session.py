"""Sessions: the factory, and the gate that admits requests to the database in arrival order."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.db.errors import DatabaseBusyError


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # Objects stay readable after commit: the response is built after the session commits.
    return async_sessionmaker(engine, expire_on_commit=False)


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
