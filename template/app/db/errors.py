"""Errors the data layer raises, free of any HTTP meaning; services decide what they mean."""


class UniqueViolationError(Exception):
    """A write broke a unique constraint (the constraint's name is in `constraint`)."""

    def __init__(self, constraint: str | None) -> None:
        super().__init__(constraint)
        self.constraint = constraint
