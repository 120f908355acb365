"""What an account's e-mail is for: proving the address, and resetting a forgotten password.

Each mails a link with a single-use token: 256 random bits stored only as a hash, for one user
and purpose at a time (a newer link outdates the older), valid for a while, and used up by its
first use. Asking never tells whether an address has an account: the answer is the same either
way, and no answer waits on the mail server (the mail goes after the response, or as a job).
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from typing import Self

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import AppError
from app.core.mail import Mail, write_mail
from app.core.security import Security, hash_token, new_token
from app.db.models.account_token import TokenPurpose
from app.db.models.user import User
from app.db.repositories.account_tokens import AccountTokenRepository
from app.db.repositories.refresh_tokens import RefreshTokenRepository
from app.db.repositories.users import UserRepository

# One answer for every token that does not work, so none tells more than another.
LINK_REFUSED = "The token is invalid, expired or already used."


class AccountTokenRefusedError(AppError):
    status = HTTPStatus.BAD_REQUEST
    type = "urn:problem:account-token-refused"


@dataclass(frozen=True, slots=True)
class AccountEmailService:
    users: UserRepository
    account_tokens: AccountTokenRepository
    refresh_tokens: RefreshTokenRepository
    security: Security
    # Hands a mail over for sending once the request's transaction has committed.
    send_mail: Callable[[Mail], None]

    @classmethod
    def on(
        cls, session: AsyncSession, security: Security, send_mail: Callable[[Mail], None]
    ) -> Self:
        return cls(
            UserRepository(session),
            AccountTokenRepository(session),
            RefreshTokenRepository(session),
            security,
            send_mail,
        )

    async def send_verification(self, user: User) -> None:
        """Mail the user a link that proves the address (at sign-up, and when asked again)."""
        settings = self.security.settings
        hours = settings.email_verification_hours
        await self._mail_link(
            user,
            "email_verification",
            timedelta(hours=hours),
            template="verify_email",
            subject=f"Confirm your {settings.project_name} e-mail address",
            url=settings.email_verification_url,
            hours=str(hours),
        )

    async def resend_verification(self, email: str) -> None:
        """Mail a new verification link if `email` is an active, unverified user's; otherwise
        do nothing, silently."""
        user = await self.users.get_by_email(email)
        if user is not None and user.is_active and not user.is_verified:
            await self.send_verification(user)

    async def verify_email(self, token: str) -> None:
        user = await self._redeem("email_verification", token)
        await self.users.mark_verified(user)

    async def request_password_reset(self, email: str) -> None:
        """Mail a reset link if `email` is an active user's; otherwise do nothing, silently."""
        user = await self.users.get_by_email(email)
        if user is None or not user.is_active:
            return
        settings = self.security.settings
        minutes = settings.password_reset_minutes
        await self._mail_link(
            user,
            "password_reset",
            timedelta(minutes=minutes),
            template="password_reset",
            subject=f"Reset your {settings.project_name} password",
            url=settings.password_reset_url,
            minutes=str(minutes),
        )

    async def reset_password(self, token: str, new_password: str) -> None:
        """Set the password of the token's user, once, and end the user's every session. The
        link came by mail, so it proves the address too."""
        user = await self._redeem("password_reset", token)
        await self.users.set_password_hash(user, self.security.hash_password(new_password))
        await self.users.mark_verified(user)
        await self.refresh_tokens.revoke_all_of_user(user.id, datetime.now(UTC))

    async def _mail_link(
        self,
        user: User,
        purpose: TokenPurpose,
        lifetime: timedelta,
        *,
        template: str,
        subject: str,
        url: str,
        **values: str,
    ) -> None:
        """Issue the user's token for `purpose` and mail the link of `url` that carries it."""
        token = new_token()
        expires_at = datetime.now(UTC) + lifetime
        await self.account_tokens.replace(user.id, purpose, hash_token(token), expires_at)
        mail = write_mail(
            template,
            to=user.email,
            subject=subject,
            service=self.security.settings.project_name,
            link=url.replace("{token}", token),
            **values,
        )
        self.send_mail(mail)

    async def _redeem(self, purpose: TokenPurpose, token: str) -> User:
        """The active user of a valid token, which is used up; refused alike otherwise."""
        taken = await self.account_tokens.take(purpose, hash_token(token))
        if taken is None or taken.expires_at <= datetime.now(UTC):
            raise AccountTokenRefusedError(LINK_REFUSED)
        user = await self.users.get(taken.user_id)
        if user is None or not user.is_active:
            raise AccountTokenRefusedError(LINK_REFUSED)
        return user
