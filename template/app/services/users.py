"""The rules of users: registration and password changes."""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Self

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import ConflictError, ForbiddenError, UnauthorizedError
from app.core.principal import Principal
from app.core.security import Security
from app.db.errors import UniqueViolationError
from app.db.models.user import User
from app.db.repositories.account_tokens import AccountTokenRepository
from app.db.repositories.refresh_tokens import RefreshTokenRepository
from app.db.repositories.users import UserRepository
from app.schemas.users import PasswordChange, UserCreate
from app.services.auth import ACCESS_REFUSED


@dataclass(frozen=True, slots=True)
class UserService:
    users: UserRepository
    tokens: RefreshTokenRepository
    account_tokens: AccountTokenRepository
    security: Security

    @classmethod
    def on(cls, session: AsyncSession, security: Security) -> Self:
        return cls(
            UserRepository(session),
            RefreshTokenRepository(session),
            AccountTokenRepository(session),
            security,
        )

    async def register(
        self, data: UserCreate, *, is_superuser: bool = False, is_verified: bool = False
    ) -> User:
        user = User(
            email=data.email,
            password_hash=self.security.hash_password(data.password),
            is_superuser=is_superuser,
            is_verified=is_verified,
        )
        try:
            return await self.users.add(user)
        except UniqueViolationError as exc:
            # Saying the address is taken is the one disclosure registration cannot avoid.
            raise ConflictError("A user with this e-mail address already exists.") from exc

    async def change_password(self, principal: Principal, data: PasswordChange) -> None:
        user = await self.users.get(principal.id)
        if user is None:  # deleted since the request was authenticated
            raise UnauthorizedError(ACCESS_REFUSED)
        valid, _ = self.security.verify_password(data.current_password, user.password_hash)
        if not valid:
            raise ForbiddenError("The current password is not correct.")
        await self.users.set_password_hash(user, self.security.hash_password(data.new_password))
        # Every session of the old password ends: its refresh tokens stop working, and so does a
        # reset link mailed before.
        await self.tokens.revoke_all_of_user(user.id, datetime.now(UTC))
        await self.account_tokens.discard(user.id, "password_reset")
