"""Errors the data layer raises, free of any HTTP meaning; services decide what they mean."""


class UniqueViolationError(Exception):
    """A write broke a unique constraint (the constraint's name is in `constraint`)."""

    def __init__(self, constraint: str | None) -> None:
        super().__init__(constraint)
        self.constraint = constraint


class DatabaseBusyError(Exception):
    """Every connection stayed busy for as long as a request may wait for one (`timeout` s)."""

    def __init__(self, timeout: float) -> None:
        super().__init__(f"no database connection came free within {timeout} s")
        self.timeout = timeout


class DatabaseUnavailableError(Exception):
    """Connecting to the database failed on every attempt `operation` was allowed."""

    def __init__(self, operation: str, attempts: int, detail: str) -> None:
        super().__init__(
            f"{operation}: the database could not be reached in {attempts} attempts; {detail}"
        )
        self.operation = operation
        self.attempts = attempts
