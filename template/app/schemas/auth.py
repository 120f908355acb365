"""Request and response bodies of the auth endpoints."""

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from app.schemas.text import Text, storable_text
from app.schemas.users import PASSWORD_MAX_LENGTH, normalize_email


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Annotated[
        str, Field(max_length=320), AfterValidator(storable_text), AfterValidator(normalize_email)
    ]
    password: Text = Field(max_length=PASSWORD_MAX_LENGTH)


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
