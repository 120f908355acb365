"""Request and response bodies of the items resource."""

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.json_schema import SkipJsonSchema

Name = Field(min_length=1, max_length=100, examples=["Widget"])
Description = Field(default=None, max_length=1000, examples=["A small widget."])


class ItemCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Name
    description: str | None = Description


class ItemUpdate(BaseModel):
    """A partial update: only the fields sent are changed."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    # Left out of the document's types: null is refused, so the schema must not offer it.
    name: Annotated[str, Field(min_length=1, max_length=100)] | SkipJsonSchema[None] = None
    description: str | None = Description

    @field_validator("name")
    @classmethod
    def name_not_null(cls, value: str | None) -> str:
        # Runs only when `name` is sent: leaving it out keeps it, sending null is an error.
        if value is None:
            raise ValueError("name cannot be null")
        return value


class ItemRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    description: str | None
    created_at: datetime
    updated_at: datetime


class ItemPage(BaseModel):
    items: list[ItemRead]
    total: int = Field(description="Items in all pages.")
    limit: int
    offset: int
