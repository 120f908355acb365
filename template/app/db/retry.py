"""Retries of the one database step that is always safe to repeat: opening a connection.

A connection that could not be opened has run nothing, so retrying it is as safe for a request
that writes as for one that reads. Statements are never retried: one whose connection broke
may have run (and written), and a transaction cannot be resumed on another connection. So each
request connects before its route runs (`Database.session`), and that is what is retried;
start-up pings the database the same way before the service takes traffic (`Database.open`).
"""

from collections.abc import Awaitable, Callable
from typing import TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, wait_random_exponential
from tenacity.stop import stop_base

from app.core.resilience import record_retries_exhausted, record_retry
from app.db.engine import is_transient_connect_error
from app.db.errors import DatabaseUnavailableError

T = TypeVar("T")


class ConnectRetry:
    """Bounded, exponential retries with full jitter of a step that only connects.

    Each wait is random between 0 and `initial_wait` * 2^(attempt - 1), capped at `max_wait`, so
    workers that lost the database together do not all come back in the same instant.
    """

    def __init__(
        self, operation: str, *, stop: stop_base, initial_wait: float, max_wait: float
    ) -> None:
        self.operation = operation
        self._stop = stop
        self._wait = wait_random_exponential(multiplier=initial_wait, max=max_wait)

    async def run(self, connect: Callable[[], Awaitable[T]]) -> T:
        """Await `connect()` until it succeeds, fails for good, or the bound is reached.

        The first attempt runs on its own: every request makes it and it nearly always succeeds,
        so the retry loop and its bookkeeping are built only after it has failed.
        """
        try:
            return await connect()
        except Exception as exc:
            if not is_transient_connect_error(exc):
                raise
            first_error: Exception | None = exc
        retrying = AsyncRetrying(
            stop=self._stop,
            wait=self._wait,
            retry=retry_if_exception(is_transient_connect_error),
            before_sleep=self._before_sleep,
            reraise=True,
        )
        attempts = 0
        try:
            async for attempt in retrying:
                attempts = attempt.retry_state.attempt_number
                with attempt:
                    if first_error is not None:
                        # Hand the loop the first attempt's failure, so the bound and the
                        # waits count it as attempt 1.
                        error, first_error = first_error, None
                        raise error
                    result = await connect()
        except Exception as exc:
            if not is_transient_connect_error(exc):
                raise
            record_retries_exhausted(self.operation, attempts=attempts, error=exc)
            raise DatabaseUnavailableError(
                f"{self.operation}: the database could not be reached in {attempts} attempts; "
                f"{exc!r}"
            ) from exc
        return result

    def _before_sleep(self, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        record_retry(
            self.operation, attempt=state.attempt_number, wait=state.upcoming_sleep, error=error
        )
