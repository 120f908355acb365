"""What the worker makes at start-up for its tasks: settings, the database, the HTTP client."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

from httpx import AsyncClient
from taskiq import Context

from app.core.config import Settings
from app.core.jobs import JobMessage
from app.db.database import Database

# A task: its job's message, and the context taskiq passes it (`TaskiqDepends()`).
Task = Callable[..., Awaitable[Any]]
Tasks = dict[type[JobMessage], Task]
# When the scheduler sends a job: a cron expression, in UTC.
Schedules = dict[type[JobMessage], str]


@dataclass
class WorkerState:
    settings: Settings
    database: Database
    http_client: AsyncClient


def worker_state(context: Context) -> WorkerState:
    """The worker's state, typed: taskiq's keeps any attribute and types none."""
    return cast(WorkerState, context.state.worker)
