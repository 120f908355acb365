"""Create the first superuser from FIRST_SUPERUSER_EMAIL and FIRST_SUPERUSER_PASSWORD.

Idempotent, so it is safe to run on every deploy: an existing user with that e-mail is made an
active superuser and keeps its password.

    python -m app.commands.create_superuser
"""

import asyncio
import sys

import structlog

from app.core.config import Settings, get_settings
from app.core.logging import configure_logging
from app.core.security import Security
from app.db.database import Database
from app.db.repositories.users import UserRepository
from app.schemas.users import UserCreate
from app.services.users import UserService

logger = structlog.get_logger(__name__)


async def ensure_superuser(settings: Settings, email: str, password: str) -> str:
    """Create or promote the superuser; says which it did."""
    data = UserCreate(email=email, password=password)
    database = Database(settings)
    try:
        async with database.session() as session:
            users = UserRepository(session)
            existing = await users.get_by_email(data.email)
            if existing is None:
                service = UserService.on(session, Security(settings))
                # Its address is the operator's word: no mail to confirm it.
                await service.register(data, is_superuser=True, is_verified=True)
                outcome = "created"
            elif existing.is_superuser and existing.is_active and existing.is_verified:
                outcome = "unchanged"
            else:
                existing.is_superuser = True
                existing.is_active = True
                existing.is_verified = True
                outcome = "promoted"
    finally:
        await database.close()
    return outcome


def main() -> None:
    settings = get_settings()
    configure_logging(settings)
    if not settings.first_superuser_email or settings.first_superuser_password is None:
        sys.exit("Set FIRST_SUPERUSER_EMAIL and FIRST_SUPERUSER_PASSWORD.")
    password = settings.first_superuser_password.get_secret_value()
    outcome = asyncio.run(ensure_superuser(settings, settings.first_superuser_email, password))
    logger.info("superuser", email=settings.first_superuser_email, outcome=outcome)


if __name__ == "__main__":
    main()
