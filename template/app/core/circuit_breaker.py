"""Circuit breakers for calls to other services: fail fast while one is down, probe it later.

Closed, calls pass and failures in a row are counted; `failure_threshold` of them open the
circuit. Open, every call fails at once with `CircuitOpenError` (a 503 if it reaches a response)
instead of waiting out timeouts against a service that is down. After `cooldown` seconds the
circuit is half-open: one trial call goes through while the others still fail fast; its success
closes the circuit, its failure opens it for another cooldown.
"""

import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from enum import StrEnum
from typing import TypeVar

from app.core.errors import ServiceUnavailableError
from app.core.resilience import record_circuit_transition

T = TypeVar("T")
FailurePredicate = Callable[[Exception], bool]


class CircuitState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitOpenError(ServiceUnavailableError):
    """The breaker refused the call without making it; `Retry-After` says when it probes again."""

    type = "urn:problem:dependency-unavailable"

    def __init__(self, breaker: str, retry_after: float) -> None:
        # The detail never names the dependency: clients need not learn what the service calls.
        super().__init__(
            "A service this request depends on is unavailable; try again later.",
            headers={"Retry-After": str(max(1, math.ceil(retry_after)))},
        )
        self.breaker = breaker
        self.retry_after = retry_after


def every_exception(_exc: Exception) -> bool:
    return True


class CircuitBreaker:
    """One breaker per service called, shared by every request of the process."""

    def __init__(
        self,
        name: str,
        *,
        failure_threshold: int,
        cooldown: float,
        is_failure: FailurePredicate = every_exception,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.failure_threshold = failure_threshold
        self.cooldown = cooldown
        self._is_failure = is_failure
        self._clock = clock
        self._state = CircuitState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._trial_in_flight = False

    @property
    def state(self) -> CircuitState:
        return self._state

    @asynccontextmanager
    async def guard(self) -> AsyncIterator[None]:
        """Run the block as one call through the breaker; raises CircuitOpenError when refused.

        An exception for which `is_failure` is false (a 404, say) proves the other service
        answered, so it counts as a success; a cancelled call counts as neither.
        """
        trial = self._admit()
        try:
            yield
        except Exception as exc:
            if self._is_failure(exc):
                self._on_failure(trial)
            else:
                self._on_success(trial)
            raise
        except BaseException:
            if trial:
                self._trial_in_flight = False
            raise
        self._on_success(trial)

    async def call(
        self, operation: Callable[[], Awaitable[T]], *, fallback: Callable[[], T] | None = None
    ) -> T:
        """Await `operation()` through the breaker.

        With a `fallback`, a refused or failed call returns `fallback()` instead of raising:
        the service degrades (a cached or default value) rather than failing the request.
        """
        try:
            async with self.guard():
                result = await operation()
        except CircuitOpenError:
            if fallback is None:
                raise
            return fallback()
        except Exception as exc:
            if fallback is None or not self._is_failure(exc):
                raise
            return fallback()
        return result

    def _admit(self) -> bool:
        """Let a call through or raise; True when it is the half-open circuit's trial call."""
        if self._state is CircuitState.CLOSED:
            return False
        if self._state is CircuitState.OPEN:
            remaining = self._opened_at + self.cooldown - self._clock()
            if remaining > 0:
                raise CircuitOpenError(self.name, remaining)
            self._transition(CircuitState.HALF_OPEN)
        if self._trial_in_flight:
            # The trial's outcome decides within one call's timeout.
            raise CircuitOpenError(self.name, 1)
        self._trial_in_flight = True
        return True

    def _on_failure(self, trial: bool) -> None:
        if trial:
            self._trial_in_flight = False
            self._open()
        elif self._state is CircuitState.CLOSED:
            self._failures += 1
            if self._failures >= self.failure_threshold:
                self._open()
        # A call let through before the circuit opened, ending now, changes nothing.

    def _on_success(self, trial: bool) -> None:
        if trial:
            self._trial_in_flight = False
            self._transition(CircuitState.CLOSED)
            self._failures = 0
        elif self._state is CircuitState.CLOSED:
            self._failures = 0

    def _open(self) -> None:
        self._opened_at = self._clock()
        self._transition(CircuitState.OPEN)

    def _transition(self, new: CircuitState) -> None:
        old, self._state = self._state, new
        record_circuit_transition(self.name, old=old, new=new, failures=self._failures)


class CircuitBreakers:
    """The process's breakers by name (`breakers["payments"]`), each made on first use."""

    def __init__(
        self, *, failure_threshold: int, cooldown: float, is_failure: FailurePredicate
    ) -> None:
        self._failure_threshold = failure_threshold
        self._cooldown = cooldown
        self._is_failure = is_failure
        self._breakers: dict[str, CircuitBreaker] = {}

    def __getitem__(self, name: str) -> CircuitBreaker:
        breaker = self._breakers.get(name)
        if breaker is None:
            breaker = self._breakers[name] = CircuitBreaker(
                name,
                failure_threshold=self._failure_threshold,
                cooldown=self._cooldown,
                is_failure=self._is_failure,
            )
        return breaker
