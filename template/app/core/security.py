"""Passwords, access tokens and refresh tokens: the service's only cryptography.

Passwords: Argon2 (pwdlib); bcrypt hashes from an older system still verify and are re-hashed
with Argon2 on the next login. Access tokens: JWT (PyJWT) with the algorithm pinned on decode and
every claim required. Refresh tokens: opaque random strings of which only a SHA-256 is stored.
"""

import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property, lru_cache

import jwt
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from pwdlib.hashers.bcrypt import BcryptHasher

from app.core.config import Settings

ACCESS_TYPE = "access"
REQUIRED_CLAIMS = ["sub", "exp", "iat", "iss", "aud", "jti", "type"]
# Access tokens a worker remembers having verified: its signed-in clients of the last minutes.
VERIFIED_TOKENS = 4096


class InvalidTokenError(Exception):
    """The token is malformed, forged, expired, or not an access token."""


@dataclass(frozen=True)
class IssuedRefreshToken:
    token: str  # goes to the client, never stored
    token_hash: str
    expires_at: datetime


class Security:
    """Hashing and token operations configured from settings; one instance per app."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.passwords = PasswordHash(
            (
                Argon2Hasher(
                    time_cost=settings.argon2_time_cost,
                    memory_cost=settings.argon2_memory_cost,
                    parallelism=settings.argon2_parallelism,
                ),
                BcryptHasher(),
            )
        )
        # Only valid tokens are remembered: an error is not cached, so a bad token is checked
        # again on each use.
        self._verified_access_token = lru_cache(maxsize=VERIFIED_TOKENS)(self._verify_access_token)

    @cached_property
    def _dummy_hash(self) -> str:
        return self.passwords.hash(secrets.token_urlsafe(16))

    def hash_password(self, password: str) -> str:
        return self.passwords.hash(password)

    def verify_password(self, password: str, password_hash: str) -> tuple[bool, str | None]:
        """Check a password; the second value is a new hash when the stored one is outdated."""
        return self.passwords.verify_and_update(password, password_hash)

    def burn_verification(self, password: str) -> None:
        """Cost an unknown user's login the same as a known one's, so timing reveals nothing."""
        self.passwords.verify(password, self._dummy_hash)

    def create_access_token(self, user_id: int, now: datetime | None = None) -> str:
        issued = now or datetime.now(UTC)
        claims = {
            "sub": str(user_id),
            "iat": issued,
            "exp": issued + timedelta(minutes=self.settings.access_token_minutes),
            "iss": self.settings.jwt_issuer,
            "aud": self.settings.jwt_audience,
            "jti": uuid.uuid4().hex,
            "type": ACCESS_TYPE,
        }
        secret = self.settings.jwt_secret.get_secret_value()
        return jwt.encode(claims, secret, algorithm=self.settings.jwt_algorithm)

    def user_id_from_access_token(self, token: str, now: float | None = None) -> int:
        """The user a valid access token is for; InvalidTokenError for anything else.

        A worker verifies a token's signature and claims once and remembers the user and the
        expiry of the last `VERIFIED_TOKENS` it accepted: what it checked does not change for
        the same string, under the same secret, except the expiry, checked on every use against
        `now` (the clock unless given), so a request may ask for its token's user more than once
        (`access_token_user_id` in app/api/deps.py). The user behind it is still loaded, and
        must still be active, on every request.
        """
        user_id, expires_at = self._verified_access_token(token)
        if expires_at <= (time.time() if now is None else now):
            raise InvalidTokenError("Signature has expired")
        return user_id

    def _verify_access_token(self, token: str) -> tuple[int, float]:
        """The user and expiry (a POSIX timestamp) of a valid access token."""
        try:
            claims = jwt.decode(
                token,
                self.settings.jwt_secret.get_secret_value(),
                algorithms=[self.settings.jwt_algorithm],
                audience=self.settings.jwt_audience,
                issuer=self.settings.jwt_issuer,
                options={"require": REQUIRED_CLAIMS},
            )
        except jwt.PyJWTError as exc:
            raise InvalidTokenError(str(exc)) from exc
        if claims["type"] != ACCESS_TYPE or not str(claims["sub"]).isdigit():
            raise InvalidTokenError("not an access token")
        return int(claims["sub"]), float(claims["exp"])

    def issue_refresh_token(self, now: datetime | None = None) -> IssuedRefreshToken:
        token = new_token()
        issued = now or datetime.now(UTC)
        return IssuedRefreshToken(
            token=token,
            token_hash=hash_token(token),
            expires_at=issued + timedelta(days=self.settings.refresh_token_days),
        )


def new_token() -> str:
    """A random token for a link or a refresh: 256 bits, URL-safe. Only its hash is stored."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """What is stored of a token. A fast hash is right here: the token is 256 random bits, not a
    guessable password."""
    return hashlib.sha256(token.encode()).hexdigest()
