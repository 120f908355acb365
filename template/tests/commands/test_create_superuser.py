"""The first-superuser command is idempotent, and its user needs no verification mail."""

from sqlalchemy import select

from app.commands.create_superuser import ensure_superuser
from app.db.database import Database
from app.db.models.user import User
from tests.conftest import SettingsFactory
from tests.support.accounts import delete_committed_user

EMAIL = "root@example.com"


async def test_it_creates_once_then_leaves_the_user_alone(
    settings_factory: SettingsFactory, migrated: None
) -> None:
    settings = settings_factory()
    try:
        assert await ensure_superuser(settings, EMAIL, "first password!") == "created"
        assert await ensure_superuser(settings, EMAIL, "another password") == "unchanged"
        database = Database(settings)
        async with database.session(read_only=True) as session:
            users = (await session.scalars(select(User).where(User.email == EMAIL))).all()
        await database.close()
        assert len(users) == 1
        assert users[0].is_superuser
        assert users[0].is_verified  # the operator's word: no mail to confirm it
    finally:
        await delete_committed_user(settings, EMAIL)
