"""Request and response bodies of users."""

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from app.schemas.text import Text, storable_text

# The policy: at least 8 characters, and at most 128 so hashing one stays bounded in time.
PASSWORD_MIN_LENGTH = 8
PASSWORD_MAX_LENGTH = 128


def normalize_email(value: str) -> str:
    """E-mail addresses are compared and stored lower-cased, so uniqueness ignores case."""
    return value.strip().lower()


# Something@something.something, with no whitespace or control character inside: no SMTP
# server takes those, and mail goes to this address.
EMAIL_PATTERN = r"^\s*[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+\.[^@\s\x00-\x1f\x7f]+\s*$"

# The constraints come first: pydantic documents a pattern only when it is checked before any
# after-validator (a lone surrogate fails the str check itself, before the pattern).
Email = Annotated[
    str,
    Field(max_length=320, pattern=EMAIL_PATTERN, examples=["ada@example.com"]),
    AfterValidator(storable_text),
    AfterValidator(normalize_email),
]
Password = Annotated[Text, Field(min_length=PASSWORD_MIN_LENGTH, max_length=PASSWORD_MAX_LENGTH)]


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email
    password: Password


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    is_active: bool
    is_superuser: bool
    is_verified: bool
    created_at: datetime


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current_password: Text = Field(max_length=PASSWORD_MAX_LENGTH)
    new_password: Password
