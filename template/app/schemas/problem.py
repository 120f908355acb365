"""RFC 9457 problem details as the OpenAPI document declares them."""

from pydantic import BaseModel, Field


class Problem(BaseModel):
    type: str = Field(default="about:blank", examples=["urn:problem:not-found"])
    title: str = Field(examples=["Not Found"])
    status: int = Field(examples=[404])
    detail: str = Field(examples=["Item 42 does not exist."])
    instance: str | None = Field(default=None, examples=["/api/v1/items/42"])
    request_id: str | None = Field(description="Also sent as the X-Request-ID header.")


class ValidationErrorEntry(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ValidationProblem(Problem):
    errors: list[ValidationErrorEntry]
