"""The dead letter: jobs that failed for good, kept with their arguments and error.

    python -m app.commands.dead_jobs list                # one line per dead job, oldest first
    python -m app.commands.dead_jobs replay ID [ID ...]  # send these again
    python -m app.commands.dead_jobs replay --all        # send every dead job again

A replay moves each job from the dead letter to the outbox in one transaction, under its own id
(so `apply_once` still recognises it), then relays the outbox at once; while Redis is down the
jobs wait in the outbox, and any web worker's relay sends them when it is back.
"""

import argparse
import asyncio
from collections.abc import Sequence

from sqlalchemy import select
from taskiq.exceptions import SendTaskError

from app.core.config import Settings, get_settings
from app.core.jobs import create_broker
from app.core.logging import configure_logging
from app.db.database import Database
from app.db.models.job import DeadJob
from app.db.outbox import JobQueue, OutboxRelay


async def dead_jobs(settings: Settings) -> list[DeadJob]:
    database = Database(settings)
    try:
        async with database.session(read_only=True) as session:
            query = select(DeadJob).order_by(DeadJob.failed_at, DeadJob.task_id)
            return list((await session.scalars(query)).all())
    finally:
        await database.close()


async def replay(settings: Settings, task_ids: Sequence[str] | None) -> tuple[int, bool]:
    """Requeue the given dead jobs (all of them for None); returns how many, and whether they
    reached Redis already. An id that is not in the dead letter stops it before any change."""
    database = Database(settings)
    broker = create_broker(settings)
    try:
        async with database.session() as session:
            query = select(DeadJob).order_by(DeadJob.failed_at, DeadJob.task_id)
            if task_ids is not None:
                query = query.where(DeadJob.task_id.in_(task_ids))
            jobs = list((await session.scalars(query)).all())
            missing = set(task_ids or ()) - {job.task_id for job in jobs}
            if missing:
                raise SystemExit(f"not in the dead letter: {', '.join(sorted(missing))}")
            queue = JobQueue(session)
            for job in jobs:
                queue.requeue(job)
                await session.delete(job)
        try:
            await OutboxRelay.to_broker(database, broker, settings).relay()
        except SendTaskError:
            return len(jobs), False
        return len(jobs), True
    finally:
        await broker.shutdown()
        await database.close()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m app.commands.dead_jobs")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="one line per dead job, oldest first")
    replaying = commands.add_parser("replay", help="send dead jobs again")
    replaying.add_argument("task_ids", nargs="*", metavar="ID")
    replaying.add_argument("--all", action="store_true", help="every dead job")
    arguments = parser.parse_args(argv)

    settings = get_settings()
    configure_logging(settings)
    if arguments.command == "list":
        for job in asyncio.run(dead_jobs(settings)):
            failed = job.failed_at.isoformat(timespec="seconds")
            print(f"{job.task_id}  {job.task_name}  {failed}  {job.attempts}  {job.error}")
        return
    if arguments.all == bool(arguments.task_ids):
        parser.error("replay takes job ids or --all")
    count, sent = asyncio.run(replay(settings, None if arguments.all else arguments.task_ids))
    where = "sent" if sent else "in the outbox (Redis is unreachable; a relay sends them later)"
    print(f"{count} job(s) replayed, {where}")


if __name__ == "__main__":
    main()
