"""Queries on the users table."""

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.core.principal import Principal
from app.db.errors import UniqueViolationError
from app.db.models.user import User

# Opens the connection a principal is read on, and gives it back when the block ends.
ReadConnector = Callable[[], AbstractAsyncContextManager[AsyncConnection]]

# Built once, so every lookup hits SQLAlchemy's compiled-statement cache.
PRINCIPAL_BY_ID = select(
    User.id, User.email, User.is_active, User.is_superuser, User.is_verified, User.created_at
).where(User.id == bindparam("user_id"))


class PrincipalRepository:
    """Looks up the principal of every authenticated request, so it is lean on purpose: one Core
    select, no session and no identity map, since the value is only read. `connect` opens the
    connection (`Database.connection` in app/db/database.py: a short one, or the session's).
    """

    def __init__(self, connect: ReadConnector) -> None:
        self.connect = connect

    async def get(self, user_id: int) -> Principal | None:
        async with self.connect() as connection:
            row = (await connection.execute(PRINCIPAL_BY_ID, {"user_id": user_id})).first()
        return None if row is None else Principal(*row)


class UserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, user_id: int) -> User | None:
        return await self.session.get(User, user_id)

    async def get_by_email(self, email: str) -> User | None:
        return await self.session.scalar(select(User).where(User.email == email))

    async def add(self, user: User) -> User:
        self.session.add(user)
        try:
            await self.session.flush()
        except IntegrityError as exc:
            raise UniqueViolationError("uq_users_email") from exc
        return user

    async def set_password_hash(self, user: User, password_hash: str) -> None:
        user.password_hash = password_hash
        await self.session.flush()

    async def mark_verified(self, user: User) -> None:
        user.is_verified = True
        await self.session.flush()
