"""What an optional part of the service adds to the job worker (app/worker.py).

Metrics, Sentry and tracing each subclass `WorkerHooks` in a module of their own
(app/core/job_metrics.py, app/core/sentry_jobs.py, app/core/tracing_jobs.py), and the worker
calls every hook it was given at each point below. Here each does nothing: a part overrides only
the points it needs, and the worker's own code stays the same whichever parts the service has.
"""

from collections.abc import Sequence

from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncEngine
from taskiq_redis import RedisStreamBroker


class WorkerHooks:
    def install(self, broker: RedisStreamBroker) -> None:
        """The worker's broker is made; its tasks are not registered yet."""

    def starting(self) -> None:
        """The worker process starts, before it opens anything."""

    async def started(self, engines: Sequence[AsyncEngine], http_client: AsyncClient) -> None:
        """The worker's database engines and HTTP client are open."""

    async def stopping(self) -> None:
        """The worker process stops, before it closes its database and HTTP client."""

    def job_ended(self, task_name: str, outcome: str, seconds: float) -> None:
        """A job ran to its end: `outcome` is "done", or "dead" once it is in the dead letter;
        `seconds` from its first run to its end, retries and their waits included."""

    def job_buried(self, error: Exception, task_name: str, job_id: str) -> None:
        """A job was kept in the dead letter, failed for good with `error`."""
