"""Bodies of the item import, and the job that carries it to the worker."""

from pydantic import BaseModel, ConfigDict, Field

from app.core.jobs import JobMessage
from app.schemas.items import ItemCreate

MAX_IMPORT_SIZE = 1000


class ItemImport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[ItemCreate] = Field(min_length=1, max_length=MAX_IMPORT_SIZE)


class ItemImportAccepted(BaseModel):
    job_id: str = Field(description="The import job's id; its items appear once it has run.")


class ImportItems(JobMessage, task="items.import"):
    """The job: make these items for their owner, keeping any name the owner already has."""

    owner_id: int | None
    items: list[ItemCreate]
