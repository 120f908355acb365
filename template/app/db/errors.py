"""Errors the data layer raises.

A unique violation has no HTTP meaning of its own: services decide what it means. A database
that is busy or out of reach means the same thing to every caller, a 503 worth retrying, so
those errors are already the service-unavailable problem.
"""

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import ClassVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import ServiceUnavailableError


class UniqueViolationError(Exception):
    """A write broke a unique constraint (the constraint's name is in `constraint`)."""

    def __init__(self, constraint: str | None) -> None:
        super().__init__(constraint)
        self.constraint = constraint


async def flush(session: AsyncSession) -> None:
    """Flush the session's changes now, so a unique violation surfaces here rather than at
    commit (`unique_violations`)."""
    with unique_violations():
        await session.flush()


@contextmanager
def unique_violations() -> Iterator[None]:
    """Around a write: a unique violation in it is raised as a `UniqueViolationError`; any other
    integrity error is raised as is."""
    try:
        yield
    except IntegrityError as exc:
        if not _is_unique_violation(exc):
            raise
        raise UniqueViolationError(_constraint_name(exc)) from exc


def _is_unique_violation(exc: IntegrityError) -> bool:
    # asyncpg reports SQLSTATE 23505; sqlite says "UNIQUE constraint failed".
    sqlstate = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return sqlstate == "23505" or "UNIQUE constraint failed" in str(exc.orig)


def _constraint_name(exc: IntegrityError) -> str | None:
    name = getattr(getattr(exc.orig, "__cause__", None), "constraint_name", None)
    return name if isinstance(name, str) else None


class DatabaseBusyError(ServiceUnavailableError):
    """Every place at the gate stayed taken for as long as a request may wait (`timeout` s)."""

    default_headers: ClassVar[Mapping[str, str]] = {"Retry-After": "1"}

    def __init__(self, timeout: float) -> None:
        super().__init__("The database is busy; try again shortly.")
        self.timeout = timeout

    def __str__(self) -> str:
        return f"no database connection came free within {self.timeout} s"


class DatabaseUnavailableError(ServiceUnavailableError):
    """The database could not be reached, or went away halfway through a statement (`reason`)."""

    default_headers: ClassVar[Mapping[str, str]] = {"Retry-After": "5"}

    def __init__(self, reason: str) -> None:
        super().__init__("The database is unavailable; try again shortly.")
        self.reason = reason

    def __str__(self) -> str:
        return self.reason
