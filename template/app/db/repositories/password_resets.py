"""Queries on the password_resets table."""

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models.password_reset import PasswordReset


class PasswordResetRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def replace(self, user_id: int, token_hash: str, expires_at: datetime) -> None:
        """Make `token_hash` the user's one pending reset; an older one stops working."""
        await self.discard_of_user(user_id)
        self.session.add(
            PasswordReset(user_id=user_id, token_hash=token_hash, expires_at=expires_at)
        )
        await self.session.flush()

    async def take(self, token_hash: str) -> PasswordReset | None:
        """Remove the reset of `token_hash` and return it: of two requests with one token, one
        gets it and the other None."""
        row = (
            await self.session.execute(
                delete(PasswordReset)
                .where(PasswordReset.token_hash == token_hash)
                .returning(PasswordReset.user_id, PasswordReset.expires_at)
            )
        ).one_or_none()
        if row is None:
            return None
        return PasswordReset(user_id=row.user_id, token_hash=token_hash, expires_at=row.expires_at)

    async def discard_of_user(self, user_id: int) -> None:
        await self.session.execute(delete(PasswordReset).where(PasswordReset.user_id == user_id))

    async def delete_expired(self, before: datetime) -> int:
        """Remove the resets whose link expired before `before`; returns how many went."""
        result = await self.session.execute(
            delete(PasswordReset).where(PasswordReset.expires_at < before)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]
