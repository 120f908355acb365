"""Queries on the account_tokens table."""

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models.account_token import AccountToken, TokenPurpose


class AccountTokenRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def replace(
        self, user_id: int, purpose: TokenPurpose, token_hash: str, expires_at: datetime
    ) -> None:
        """Make `token_hash` the user's one token for `purpose`; an older one stops working."""
        await self.discard(user_id, purpose)
        self.session.add(
            AccountToken(
                user_id=user_id, purpose=purpose, token_hash=token_hash, expires_at=expires_at
            )
        )
        await self.session.flush()

    async def take(self, purpose: TokenPurpose, token_hash: str) -> AccountToken | None:
        """Remove the token of `token_hash` and return it: of two requests with one token, one
        gets it and the other None."""
        row = (
            await self.session.execute(
                delete(AccountToken)
                .where(AccountToken.purpose == purpose, AccountToken.token_hash == token_hash)
                .returning(AccountToken.user_id, AccountToken.expires_at)
            )
        ).one_or_none()
        if row is None:
            return None
        return AccountToken(
            user_id=row.user_id, purpose=purpose, token_hash=token_hash, expires_at=row.expires_at
        )

    async def discard(self, user_id: int, purpose: TokenPurpose) -> None:
        await self.session.execute(
            delete(AccountToken).where(
                AccountToken.user_id == user_id, AccountToken.purpose == purpose
            )
        )

    async def delete_expired(self, before: datetime) -> int:
        """Remove the tokens that expired before `before`; returns how many went."""
        result = await self.session.execute(
            delete(AccountToken).where(AccountToken.expires_at < before)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]
