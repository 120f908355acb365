"""The rate limiter: named limits from settings, their strategies, and who a request counts against.

The counting is the `limits` library's async API; this module decides which strategy each named
limit uses, what happens when the storage is unreachable, and which address a request comes from.
"""

import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from ipaddress import IPv4Network, IPv6Network, ip_address
from typing import Literal

import structlog
from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import (
    MovingWindowRateLimiter,
    SlidingWindowCounterRateLimiter,
)
from limits.aio.strategies import (
    RateLimiter as Strategy,
)
from limits.errors import StorageError
from starlette.types import Scope

from app.core.config import Settings
from app.core.errors import AppError, ServiceUnavailableError

# "default" covers every public route; "strict" is for routes that guard credentials (login,
# register, refresh) or cost much, and must be declared on the route.
LimitName = Literal["default", "strict"]
Network = IPv4Network | IPv6Network

logger = structlog.get_logger(__name__)


class TooManyRequestsError(AppError):
    status = HTTPStatus.TOO_MANY_REQUESTS
    type = "urn:problem:too-many-requests"


class RateLimiterUnavailableError(ServiceUnavailableError):
    """The counters cannot be read and the limiter is set to fail closed."""


@dataclass(frozen=True, slots=True)
class RateLimitStatus:
    """Where a client stands against one limit after a request was counted (or refused)."""

    allowed: bool
    limit: int
    remaining: int
    reset_after: int  # whole seconds until the window lets at least one more request in

    def headers(self) -> dict[str, str]:
        """The IETF draft's RateLimit fields, and Retry-After on a refusal."""
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_after),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.reset_after)
        return headers


class RateLimiter:
    """Counts requests against the named limits; one instance per process.

    The default limit uses the sliding-window counter: two counters per client and route whatever
    the limit, so a generous default costs no memory. The strict limit uses the moving window,
    exact to the request (no burst at a window's edge), which matters for a small limit guarding
    credentials and costs one timestamp per allowed request. Both count in `storage`, or the
    strict limit in `strict_storage` when one is given (`in_memory`).
    """

    def __init__(
        self,
        storage: Storage,
        settings: Settings,
        *,
        strict_storage: Storage | None = None,
        fail_open: bool = True,
        warning_interval: float = 60.0,
    ) -> None:
        self.limits: dict[LimitName, tuple[RateLimitItem, Strategy]] = {
            "default": (
                parse(settings.rate_limit_default),
                SlidingWindowCounterRateLimiter(storage),
            ),
            "strict": (
                parse(settings.rate_limit_strict),
                MovingWindowRateLimiter(strict_storage or storage),
            ),
        }
        self.trusted_proxies: tuple[Network, ...] = tuple(settings.trusted_proxies)
        self.fail_open = fail_open
        self.warning_interval = warning_interval
        self._warned_at: float | None = None
        self._failing = False

    @classmethod
    def in_memory(cls, settings: Settings) -> "RateLimiter":
        """Counting in this process's memory. The strict limit's timestamps are kept apart: on
        every count, limits' in-memory storage expires each moving window it holds, with a hop
        to a thread for each, so beside the default limit's counters they would cost every
        request of the service while anyone has logged in lately."""
        return cls(MemoryStorage(), settings, strict_storage=MemoryStorage())

    async def hit(self, name: LimitName, *identifiers: str) -> RateLimitStatus | None:
        """Count one request; None when the storage is down and the limiter fails open."""
        item, strategy = self.limits[name]
        try:
            allowed = await strategy.hit(item, *identifiers)
            stats = await strategy.get_window_stats(item, *identifiers)
        except StorageError as exc:
            self._storage_failed(exc)
            if self.fail_open:
                return None
            raise RateLimiterUnavailableError(
                "The rate limiter is unavailable; try again shortly.",
                headers={"Retry-After": "1"},
            ) from exc
        if self._failing:
            self._failing = False
            logger.info("rate_limit_storage_recovered")
        return RateLimitStatus(
            allowed=allowed,
            limit=item.amount,
            remaining=max(stats.remaining, 0),
            reset_after=reset_after(stats.reset_time, item),
        )

    def _storage_failed(self, exc: StorageError) -> None:
        """Log the outage at most once per interval: at full traffic every request sees it."""
        self._failing = True
        now = time.monotonic()
        if self._warned_at is None or now - self._warned_at >= self.warning_interval:
            self._warned_at = now
            logger.warning(
                "rate_limit_storage_unavailable",
                error=repr(exc.storage_error),
                fail_open=self.fail_open,
            )

    def client_address(self, scope: Scope) -> str:
        """The client's address: the socket peer, or X-Forwarded-For when the peer is trusted."""
        client = scope.get("client")
        peer = client[0] if client else "unknown"
        if not self.trusted_proxies:
            return peer
        forwarded = [
            value.decode("latin-1")
            for name, value in scope["headers"]
            if name == b"x-forwarded-for"
        ]
        if not forwarded:
            return peer
        return forwarded_client(peer, ",".join(forwarded).split(","), self.trusted_proxies)


def reset_after(reset_time: float, item: RateLimitItem) -> int:
    """Whole seconds until the window resets, from `limits`' reset time, at least 1.

    The sliding-window counter takes a window's remaining time as its expiry modulo the window.
    Redis starts a client's counter at its first request, to expire two windows later, so that
    very request wraps to 0 (one second, or less, to wait) where a whole window is left: a reset
    at or before now, straight after a request was counted, means the window has just begun.
    """
    seconds = reset_time - time.time()
    if seconds <= 0:
        seconds = item.get_expiry()
    return max(math.ceil(seconds), 1)


def forwarded_client(peer: str, hops: Sequence[str], trusted: Iterable[Network]) -> str:
    """The right-most address not in `trusted`, walking from the socket peer leftwards.

    Each trusted proxy appends the address it received the request from, so everything to the
    right of the first untrusted hop was written by a proxy we trust, and everything to its left
    may have been made up by the client. A hop that is not an address ends the walk at the last
    trusted one.
    """
    networks = tuple(trusted)
    current = peer
    for hop in (peer, *reversed(hops)):
        try:
            address = ip_address(hop.strip())
        except ValueError:
            return current
        current = str(address)
        if not any(address in network for network in networks):
            return current
    return current
