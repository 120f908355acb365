"""The scheduler of periodic jobs: its firings reach the workers once however many schedulers
run, and the upkeep jobs it sends do their work. Against the real Redis and database."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from app.core.config import Settings
from app.db.database import Database
from app.db.models.job import AppliedJob
from app.jobs.maintenance import PurgeAppliedJobs
from app.worker import create_scheduler
from tests.support.jobs import JobStream, eventually_async, running_worker


async def test_two_schedulers_send_each_firing_once(
    settings_factory: Callable[..., Settings], job_stream: JobStream
) -> None:
    settings = settings_factory(jobs_queue=job_stream.settings.jobs_queue)
    schedulers = [create_scheduler(settings), create_scheduler(settings)]
    for scheduler in schedulers:
        [source] = scheduler.sources
        await source.startup()
        [task] = [
            task
            for task in await source.get_schedules()
            if task.task_name == PurgeAppliedJobs.task_name
        ]
        assert task.cron == "17 * * * *"
        await scheduler.on_ready(source, task)
        await scheduler.shutdown()

    [sent] = await job_stream.messages()
    assert sent["task_name"] == PurgeAppliedJobs.task_name
    assert sent["kwargs"] == {"message": {}}


async def test_the_purge_forgets_only_old_applied_jobs(
    settings_factory: Callable[..., Settings],
    migrated_database_url: str,
    job_stream: JobStream,
    tmp_path: Path,
) -> None:
    settings = settings_factory(
        database_url=migrated_database_url,
        jobs_queue=job_stream.settings.jobs_queue,
        jobs_applied_retention_days=7,
        jobs_heartbeat_file=tmp_path / "heartbeat",
    )
    database = Database(settings)
    old = datetime.now(UTC) - timedelta(days=8)
    try:
        async with database.session() as session:
            session.add(AppliedJob(task_id="o" * 32, task_name="items.import", applied_at=old))
            session.add(AppliedJob(task_id="n" * 32, task_name="items.import"))

        async def kept() -> list[str]:
            async with database.session(read_only=True) as session:
                return list((await session.scalars(select(AppliedJob.task_id))).all())

        scheduler = create_scheduler(settings)
        [source] = scheduler.sources
        await source.startup()
        [task] = [
            t for t in await source.get_schedules() if t.task_name == PurgeAppliedJobs.task_name
        ]
        async with running_worker(settings):
            await scheduler.on_ready(source, task)

            async def purged() -> bool:
                return "o" * 32 not in await kept()

            await eventually_async(purged, "the old applied job purged")
        await scheduler.shutdown()
        # The purge's own record joins the recent one.
        assert "n" * 32 in await kept()
    finally:
        await database.close()
