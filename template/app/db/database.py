"""The database as the rest of the app sees it: one object, opened and closed by the lifespan.

It owns the engines and their pools (the writes' and the safe requests' reads'), a gate per pool
that admits requests in arrival order (app/db/session.py), the connect retry (app/db/retry.py),
the sessions and the readiness ping.
What goes wrong on the way raises `DatabaseBusyError` or `DatabaseUnavailableError`, which are
already the 503 problem.
"""

import copy
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker
from tenacity import stop_after_attempt, stop_before_delay

from app.core.config import Settings
from app.core.errors import AppError
from app.db.engine import create_engine, is_unavailable_error, ping_database
from app.db.errors import DatabaseUnavailableError
from app.db.retry import ConnectRetry
from app.db.session import ReadOnlySession, SessionGate

# The session the current request holds, if any: a short read waits for no second place.
_request_session: ContextVar[AsyncSession | None] = ContextVar("request_session", default=None)


class Database:
    """One worker's way to the database; `open` before the first request, `close` at the end.

    Writes use a pool of `DATABASE_POOL_SIZE` connections behind a gate as wide; the reads of
    safe requests use `reader`, a pool of `DATABASE_READ_POOL_SIZE` connections that stay in
    autocommit, behind a gate of its own. A worker holds at most both, plus
    `DATABASE_MAX_OVERFLOW` for what bypasses the gates (the readiness ping).
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = create_engine(settings)
        self.reader = create_engine(settings, reads=True)
        # Objects stay readable after commit: the response is built after the session commits.
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._read_sessions = async_sessionmaker(
            self.reader, sync_session_class=ReadOnlySession, expire_on_commit=False
        )
        self._connection: AsyncConnection | None = None
        self.gate = SessionGate(settings.database_pool_size, timeout=settings.database_pool_timeout)
        self.read_gate = SessionGate(
            settings.database_read_pool_size, timeout=settings.database_pool_timeout
        )
        self._connect_retry = ConnectRetry(
            "database_connect",
            stop=stop_after_attempt(settings.database_connect_attempts),
            initial_wait=settings.database_retry_initial_wait,
            max_wait=settings.database_retry_max_wait,
        )

    async def open(self) -> None:
        """Ping until the database answers, for at most `DATABASE_STARTUP_TIMEOUT` seconds.

        Giving up raises, so the server exits with the reason instead of serving 503s; the
        orchestrator restarts it. A timeout of 0 starts without waiting (readiness still tells).
        """
        if self.settings.database_startup_timeout == 0:
            return
        retry = ConnectRetry(
            "database_startup",
            stop=stop_before_delay(self.settings.database_startup_timeout),
            initial_wait=self.settings.database_retry_initial_wait,
            max_wait=self.settings.database_retry_max_wait,
        )
        try:
            await retry.run(self.ping)
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        await self.engine.dispose()
        await self.reader.dispose()

    async def ping(self) -> None:
        """Readiness: a round trip on a pooled connection."""
        await ping_database(self.engine)

    def bound_to(self, connection: AsyncConnection) -> "Database":
        """This database with every session and read inside `connection`'s transaction, where a
        commit only releases a savepoint: the tests' way to roll back all a request wrote."""
        bound = copy.copy(self)
        bound._sessions = bound._read_sessions = async_sessionmaker(
            bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
        )
        bound._connection = connection
        return bound

    @asynccontextmanager
    async def session(self, *, read_only: bool = False) -> AsyncIterator[AsyncSession]:
        """One transaction, committed when the block ends; an exception rolls it back, unless
        the error says its changes are to be kept. `read_only` reads in autocommit and refuses
        writes (app/db/session.py): it has nothing to commit, and a change left pending in it
        fails at the block's end rather than vanishing.

        The session first waits its turn at its pool's gate, then connects: connecting is the one
        step retried. A database lost halfway through a statement is a `DatabaseUnavailableError`.
        """
        factory, gate = (
            (self._read_sessions, self.read_gate) if read_only else (self._sessions, self.gate)
        )
        try:
            async with gate.turn(), factory() as session:
                await self._connect_retry.run(session.connection)
                holder = _request_session.get()
                _request_session.set(session)
                try:
                    yield session
                except AppError as exc:
                    if exc.keep_changes:
                        await session.commit()
                    raise
                finally:
                    _request_session.set(holder)
                if not read_only:
                    await session.commit()
                elif session.new or session.dirty or session.deleted:
                    await session.flush()  # which a ReadOnlySession refuses
        except Exception as exc:
            _raise_if_lost(exc)
            raise

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConnection]:
        """A connection for one short read in autocommit, given back as soon as the read is done.

        It waits its turn at the reads' gate and connects with retries, like a session. When the
        task already holds a session, the read runs on the session's connection instead: waiting
        for a second place while holding one could leave every place held by a request that
        waits for another.
        """
        session = _request_session.get()
        if session is not None:
            yield await session.connection()
            return
        if self._connection is not None:
            yield self._connection
            return
        try:
            async with self.read_gate.turn():
                connection = self.reader.connect()
                await self._connect_retry.run(connection.start)
                try:
                    yield connection
                finally:
                    await connection.close()
        except Exception as exc:
            _raise_if_lost(exc)
            raise


def _raise_if_lost(exc: Exception) -> None:
    """A statement that failed because the database went away is a `DatabaseUnavailableError`
    (a 503); any other error is the caller's to raise as it is."""
    if is_unavailable_error(exc):
        raise DatabaseUnavailableError(f"the database went away: {exc!r}") from exc
