"""Login, refresh-token rotation with reuse detection, and logout.

Each login starts a family of refresh tokens. A refresh uses its token up and hands out the
next one of the family; presenting a used token again means it was copied, so the whole family
is revoked and its holder, attacker or not, must log in again.
"""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Self

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import ForbiddenError, UnauthorizedError
from app.core.principal import Principal
from app.core.security import Security, hash_token
from app.db.models.refresh_token import RefreshToken
from app.db.models.user import User
from app.db.repositories.refresh_tokens import RefreshTokenRepository
from app.db.repositories.users import PrincipalRepository, ReadConnector, UserRepository
from app.schemas.auth import TokenPair
from app.schemas.text import storable_text

BAD_CREDENTIALS = "Incorrect e-mail address or password."
REFRESH_REFUSED = "The refresh token is invalid, expired or revoked."
ACCESS_REFUSED = "The access token is invalid or expired."
UNVERIFIED = (
    "The e-mail address is not verified yet: follow the link mailed at sign-up, or ask for a "
    "new one at /api/v1/auth/verify-email/resend."
)


class RefreshTokenReusedError(UnauthorizedError):
    """A used refresh token came back: the family is revoked, and that revocation must stick."""

    keep_changes = True


@dataclass(frozen=True, slots=True)
class AuthService:
    users: UserRepository
    tokens: RefreshTokenRepository
    security: Security

    @classmethod
    def on(cls, session: AsyncSession, security: Security) -> Self:
        return cls(UserRepository(session), RefreshTokenRepository(session), security)

    async def login(self, email: str, password: str) -> TokenPair:
        try:
            # The OAuth2 form is not validated like the JSON bodies: an address or password no
            # database or hasher can take belongs to no user.
            storable_text(email)
            storable_text(password)
        except ValueError:
            raise UnauthorizedError(BAD_CREDENTIALS) from None
        user = await self.users.get_by_email(email)
        if user is None:
            self.security.burn_verification(password)
            raise UnauthorizedError(BAD_CREDENTIALS)
        valid, new_hash = self.security.verify_password(password, user.password_hash)
        # An inactive user gets the same answer as a wrong password: nothing to enumerate.
        if not valid or not user.is_active:
            raise UnauthorizedError(BAD_CREDENTIALS)
        # Said only to the holder of the right password: it tells nothing to a guesser.
        if self.security.settings.email_verification_required and not user.is_verified:
            raise ForbiddenError(UNVERIFIED)
        if new_hash is not None:  # a legacy (bcrypt) or weaker hash: upgrade it now
            await self.users.set_password_hash(user, new_hash)
        return await self._issue(user, family_id=uuid.uuid4().hex)

    async def refresh(self, refresh_token: str) -> TokenPair:
        now = datetime.now(UTC)
        stored = await self.tokens.get_by_hash_for_update(hash_token(refresh_token))
        if stored is None or stored.revoked_at is not None or stored.expires_at <= now:
            raise UnauthorizedError(REFRESH_REFUSED)
        if stored.used_at is not None:
            await self.tokens.revoke_family(stored.family_id, now)
            raise RefreshTokenReusedError(REFRESH_REFUSED)
        user = await self.users.get(stored.user_id)
        if user is None or not user.is_active:
            raise UnauthorizedError(REFRESH_REFUSED)
        await self.tokens.mark_used(stored, now)
        return await self._issue(user, family_id=stored.family_id)

    async def logout(self, refresh_token: str) -> None:
        """End the session the token belongs to; an unknown token is already logged out."""
        stored = await self.tokens.get_by_hash_for_update(hash_token(refresh_token))
        if stored is not None:
            await self.tokens.revoke_family(stored.family_id, datetime.now(UTC))

    async def _issue(self, user: User, *, family_id: str) -> TokenPair:
        issued = self.security.issue_refresh_token()
        await self.tokens.add(
            RefreshToken(
                user_id=user.id,
                token_hash=issued.token_hash,
                family_id=family_id,
                expires_at=issued.expires_at,
            )
        )
        return TokenPair(
            access_token=self.security.create_access_token(user.id),
            refresh_token=issued.token,
            expires_in=self.security.settings.access_token_minutes * 60,
        )


@dataclass(frozen=True, slots=True)
class Authenticator:
    """Who a request's access token speaks for: every authenticated request asks this first."""

    principals: PrincipalRepository

    @classmethod
    def reading_with(cls, connect: ReadConnector) -> Self:
        return cls(PrincipalRepository(connect))

    async def authenticate(self, user_id: int | None) -> Principal:
        """The active user of a valid token's `user_id` (None: the token was not valid), read
        fresh: a deactivated or deleted user loses access now."""
        principal = None if user_id is None else await self.principals.get(user_id)
        if principal is None or not principal.is_active:
            raise UnauthorizedError(ACCESS_REFUSED)
        return principal
