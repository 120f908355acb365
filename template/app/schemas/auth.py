"""Request and response bodies of the auth endpoints."""

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from app.schemas.text import Text, storable_text
from app.schemas.users import PASSWORD_MAX_LENGTH, Email, Password, normalize_email


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Annotated[
        str, Field(max_length=320), AfterValidator(storable_text), AfterValidator(normalize_email)
    ]
    password: Text = Field(max_length=PASSWORD_MAX_LENGTH)


class TokenForm(BaseModel):
    """The OAuth2 password form (RFC 6749, section 4.3), as Swagger's Authorize button sends it.

    FastAPI's `OAuth2PasswordRequestForm` documents what the form cannot carry: a null
    `grant_type`, and empty credentials, which a form parser reads as missing. Both were
    refused with a 422 that the document did not announce. Text no database can hold is
    left to the login, which refuses it as wrong credentials (a 401), as it would any.
    """

    grant_type: Literal["password"] | SkipJsonSchema[None] = None
    username: str = Field(min_length=1, max_length=320)
    password: str = Field(min_length=1, max_length=PASSWORD_MAX_LENGTH)
    scope: str = ""


class RefreshRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Generous on purpose: a wrong kind of token (an access token, say) is refused as invalid
    # with a 401, not as malformed; the bound only keeps absurd bodies out.
    refresh_token: Text = Field(min_length=1, max_length=4096)


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth2 scheme name
    expires_in: int = Field(description="Seconds until the access token expires.")


class PasswordResetRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email


class PasswordResetAccepted(BaseModel):
    detail: str = Field(
        default="If the address belongs to an account, a link to reset its password is on its way.",
        description="The same whether or not the address has an account.",
    )


class PasswordResetConfirm(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Generous, like the refresh token's: a wrong token is refused as such, with a 400.
    token: Text = Field(min_length=1, max_length=4096)
    new_password: Password


class VerificationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email


class VerificationAccepted(BaseModel):
    detail: str = Field(
        default="If the address belongs to an account still to verify, a link is on its way.",
        description="The same whether or not the address has an account, or a verified one.",
    )


class EmailVerification(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: Text = Field(min_length=1, max_length=4096)
