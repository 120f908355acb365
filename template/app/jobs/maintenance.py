"""The job queue's own upkeep, run by the scheduler: applied jobs are forgotten once no
redelivery can come."""

from datetime import UTC, datetime, timedelta

import structlog
from taskiq import Context, TaskiqDepends

from app.core.jobs import JobMessage
from app.db.outbox import purge_applied_jobs
from app.jobs.state import Schedules, Tasks, worker_state

logger = structlog.get_logger(__name__)


class PurgeAppliedJobs(JobMessage, task="maintenance.purge_applied_jobs"):
    """Forget the jobs applied more than JOBS_APPLIED_RETENTION_DAYS ago."""


async def purge_applied(message: PurgeAppliedJobs, context: Context = TaskiqDepends()) -> None:
    state = worker_state(context)
    before = datetime.now(UTC) - timedelta(days=state.settings.jobs_applied_retention_days)
    async with state.database.session() as session:
        purged = await purge_applied_jobs(session, before)
    logger.info("applied_jobs_purged", purged=purged)


TASKS: Tasks = {PurgeAppliedJobs: purge_applied}
# Cron expressions in UTC: when the scheduler (python -m app.commands.scheduler) sends each job.
SCHEDULES: Schedules = {PurgeAppliedJobs: "17 * * * *"}
