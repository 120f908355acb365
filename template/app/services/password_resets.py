"""Password reset by e-mail: a link with a single-use token, then a new password.

Asking never tells whether an address has an account: the answer is the same either way, and
the mail is sent after the response, so no request waits on the SMTP server. The token is 256
random bits stored only as a hash; it works once, for `PASSWORD_RESET_MINUTES`, and stops working
when a newer reset is asked for or the password changes. A reset ends every session of the old
password, as a password change does.
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
from app.db.repositories.password_resets import PasswordResetRepository
from app.db.repositories.refresh_tokens import RefreshTokenRepository
from app.db.repositories.users import UserRepository

# One answer for every token that does not work, so none tells more than another.
RESET_REFUSED = "The reset token is invalid, expired or already used."


class ResetTokenRefusedError(AppError):
    status = HTTPStatus.BAD_REQUEST
    type = "urn:problem:reset-token-refused"


@dataclass(frozen=True, slots=True)
class PasswordResetService:
    users: UserRepository
    resets: PasswordResetRepository
    tokens: RefreshTokenRepository
    security: Security
    # Hands a mail over for sending once the request's transaction has committed.
    send_mail: Callable[[Mail], None]

    @classmethod
    def on(
        cls, session: AsyncSession, security: Security, send_mail: Callable[[Mail], None]
    ) -> Self:
        return cls(
            UserRepository(session),
            PasswordResetRepository(session),
            RefreshTokenRepository(session),
            security,
            send_mail,
        )

    async def request(self, email: str) -> None:
        """Mail a reset link if `email` is an active user's; otherwise do nothing, silently."""
        user = await self.users.get_by_email(email)
        if user is None or not user.is_active:
            return
        settings = self.security.settings
        token = new_token()
        expires_at = datetime.now(UTC) + timedelta(minutes=settings.password_reset_minutes)
        await self.resets.replace(user.id, hash_token(token), expires_at)
        self.send_mail(
            write_mail(
                "password_reset",
                to=user.email,
                subject=f"Reset your {settings.project_name} password",
                service=settings.project_name,
                minutes=str(settings.password_reset_minutes),
                link=settings.password_reset_url.replace("{token}", token),
            )
        )

    async def confirm(self, token: str, new_password: str) -> None:
        """Set the password of the token's user, once, and end the user's every session."""
        now = datetime.now(UTC)
        reset = await self.resets.take(hash_token(token))
        if reset is None or reset.expires_at <= now:
            raise ResetTokenRefusedError(RESET_REFUSED)
        user = await self.users.get(reset.user_id)
        if user is None or not user.is_active:
            raise ResetTokenRefusedError(RESET_REFUSED)
        await self.users.set_password_hash(user, self.security.hash_password(new_password))
        await self.tokens.revoke_all_of_user(user.id, now)
