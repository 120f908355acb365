"""Who a request acts for, as the API and the services know it; read from the users table."""

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Principal:
    """The user a request acts for: the columns authentication and ownership read."""

    id: int
    email: str
    is_active: bool
    is_superuser: bool
    is_verified: bool
    created_at: datetime
