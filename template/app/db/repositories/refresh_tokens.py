"""Queries on the refresh_tokens table."""

from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models.refresh_token import RefreshToken


class RefreshTokenRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, token: RefreshToken) -> None:
        self.session.add(token)
        await self.session.flush()

    async def get_by_hash_for_update(self, token_hash: str) -> RefreshToken | None:
        """The token, locked until the transaction ends, so two refreshes cannot both use it."""
        return await self.session.scalar(
            select(RefreshToken).where(RefreshToken.token_hash == token_hash).with_for_update()
        )

    async def mark_used(self, token: RefreshToken, when: datetime) -> None:
        token.used_at = when
        await self.session.flush()

    async def revoke_family(self, family_id: str, when: datetime) -> None:
        await self.session.execute(
            update(RefreshToken)
            .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=when)
        )

    async def revoke_all_of_user(self, user_id: int, when: datetime) -> None:
        await self.session.execute(
            update(RefreshToken)
            .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=when)
        )

    async def delete_expired(self, before: datetime) -> int:
        """Remove the tokens that expired before `before`, used or revoked alike: an expired
        token is refused anyway, and reuse detection needs only the ones still valid. Returns
        how many went."""
        result = await self.session.execute(
            delete(RefreshToken).where(RefreshToken.expires_at < before)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]
