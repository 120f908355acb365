"""The transactional outbox: a job is sent if and only if the transaction that enqueued it commits.

A service enqueues with `JobQueue(session).enqueue(message)`, which adds a row to the session's
transaction (written as it commits; a savepoint rolled back takes the jobs enqueued in it along);
nothing reaches Redis yet. When the transaction commits, the process's relay is woken, and hands
the committed rows to the broker in id order, a batch in one round trip, deleting each batch in
the transaction that sent it. So a rolled-back write sends nothing, and while Redis is down jobs
wait in the table, to be sent when it is back. A batch whose sending fails halfway is sent again
in full: delivery is at least once, and `apply_once` makes a job's effect happen once.
"""

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import delete, event, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

from app.core.config import Settings
from app.core.jobs import JobMessage, StreamBroker, job_labels, send, stop_if_cancelled
from app.db.database import Database
from app.db.errors import UniqueViolationError, flush
from app.db.models.job import AppliedJob, DeadJob, OutboxJob
from app.db.session import ReadOnlySession, ReadOnlySessionError

logger = structlog.get_logger(__name__)

# The jobs a session's transaction enqueued: inserted into the outbox as it commits, forgotten
# with it (or with the savepoint they were enqueued in) when it rolls back.
_ENQUEUED = "jobs_enqueued"
_doorbells: set[asyncio.Event] = set()
OUTBOX_INSERT = insert(OutboxJob)


@dataclass(frozen=True, slots=True)
class _Enqueued:
    row: dict[str, Any]
    savepoint: SessionTransaction | None  # the innermost savepoint open when it was enqueued


class JobQueue:
    """What services enqueue jobs with, inside the transaction of their session.

    The jobs go into the outbox with one INSERT as the transaction commits, not as ORM objects:
    the unit of work's bookkeeping for an object per job cost an enqueueing request more than
    the statement does.
    """

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def enqueue(self, message: JobMessage) -> str:
        """Add the job to the transaction; it is sent once the transaction commits. Returns the
        job's id, which the worker sees as the task id."""
        task_id = uuid.uuid4().hex
        self._add(task_id, message.task_name, message.model_dump(mode="json"), job_labels())
        return task_id

    def requeue(self, dead: DeadJob) -> None:
        """Send a dead job again, under its own id, once the transaction commits."""
        self._add(dead.task_id, dead.task_name, dead.payload, dead.labels)

    def _add(
        self, task_id: str, task_name: str, payload: dict[str, Any], labels: dict[str, str]
    ) -> None:
        session = self.session.sync_session
        if isinstance(session, ReadOnlySession):
            raise ReadOnlySessionError(
                "A GET, HEAD or OPTIONS request enqueued a job: enqueue from POST, PUT, PATCH or "
                "DELETE."
            )
        row = {"task_id": task_id, "task_name": task_name, "payload": payload, "labels": labels}
        enqueued = _Enqueued(row, session.get_nested_transaction())
        session.info.setdefault(_ENQUEUED, []).append(enqueued)


def _committing(session: Session) -> list[_Enqueued]:
    """The jobs of a commit of the transaction itself; none of a savepoint's release, for which
    SQLAlchemy calls the commit hooks too."""
    if session.get_nested_transaction() is not None:
        return []
    jobs: list[_Enqueued] = session.info.get(_ENQUEUED, [])
    return jobs


def _insert_before_commit(session: Session) -> None:
    if enqueued := _committing(session):
        session.connection().execute(OUTBOX_INSERT, [job.row for job in enqueued])


def _ring_after_commit(session: Session) -> None:
    if _committing(session):
        for doorbell in _doorbells:
            doorbell.set()


def _forget_after_rollback(session: Session, rolled_back: SessionTransaction) -> None:
    """A savepoint rolled back forgets the jobs enqueued in it and in the savepoints inside it."""
    if rolled_back.nested and (enqueued := session.info.get(_ENQUEUED)):
        session.info[_ENQUEUED] = [
            job for job in enqueued if not _inside(job.savepoint, rolled_back)
        ]


def _forget_after_transaction(session: Session, transaction: SessionTransaction) -> None:
    """The end of the session's transaction, committed, rolled back or closed, forgets its jobs:
    the outbox holds those it committed."""
    if transaction.parent is None:
        session.info.pop(_ENQUEUED, None)


def _inside(savepoint: SessionTransaction | None, rolled_back: SessionTransaction) -> bool:
    while savepoint is not None:
        if savepoint is rolled_back:
            return True
        savepoint = savepoint.parent
    return False


event.listen(Session, "before_commit", _insert_before_commit)
event.listen(Session, "after_commit", _ring_after_commit)
event.listen(Session, "after_soft_rollback", _forget_after_rollback)
event.listen(Session, "after_transaction_end", _forget_after_transaction)


SendJobs = Callable[[Sequence[OutboxJob]], Awaitable[None]]


class OutboxRelay:
    """Sends committed jobs to the broker: at once after a commit in this process, and every
    `poll_interval` seconds for the commits of other processes (and after a failure)."""

    def __init__(
        self,
        database: Database,
        send: SendJobs,
        *,
        batch_size: int,
        poll_interval: float,
        on_backlog: Callable[[int], object] | None = None,
    ) -> None:
        self.database = database
        self.send = send
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        # Told the jobs left in the outbox after each pass: none once a pass has emptied it,
        # and the table's count after a failed one (the backlog grows only while sends fail).
        self.on_backlog = on_backlog
        self._doorbell = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def to_broker(
        cls,
        database: Database,
        broker: StreamBroker,
        settings: Settings,
        on_backlog: Callable[[int], object] | None = None,
    ) -> "OutboxRelay":
        async def send_jobs(jobs: Sequence[OutboxJob]) -> None:
            async with broker.together():
                for job in jobs:
                    await send(
                        broker,
                        task_name=job.task_name,
                        task_id=job.task_id,
                        payload=job.payload,
                        labels=job.labels,
                    )

        return cls(
            database,
            send_jobs,
            batch_size=settings.jobs_relay_batch_size,
            poll_interval=settings.jobs_relay_poll_interval,
            on_backlog=on_backlog,
        )

    def start(self) -> None:
        _doorbells.add(self._doorbell)
        self._task = asyncio.get_running_loop().create_task(self._run(), name="outbox-relay")

    async def stop(self) -> None:
        _doorbells.discard(self._doorbell)
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            stop_if_cancelled()
            try:
                await self.relay()
            except Exception as exc:  # Redis or the database is down: try again at the next poll
                logger.warning("outbox_relay_failed", error=type(exc).__name__, detail=str(exc))
                await self._report_backlog()
            else:
                if self.on_backlog is not None:
                    self.on_backlog(0)
            try:
                async with asyncio.timeout(self.poll_interval):
                    await self._doorbell.wait()
            except TimeoutError:
                pass
            self._doorbell.clear()

    async def _report_backlog(self) -> None:
        if self.on_backlog is None:
            return
        try:
            async with self.database.session(read_only=True) as session:
                waiting = await session.scalar(select(func.count()).select_from(OutboxJob))
        except Exception:  # the database is away too: the last count stands
            return
        self.on_backlog(waiting or 0)

    async def relay(self) -> int:
        """Send every committed job, a batch per transaction; returns how many were sent."""
        sent = 0
        while True:
            count = await self._relay_batch()
            sent += count
            if count < self.batch_size:
                return sent

    async def _relay_batch(self) -> int:
        # DELETE ... RETURNING claims the batch: PostgreSQL locks its rows (SKIP LOCKED lets
        # another relay take the next ones), SQLite takes its write lock, so no two relays send
        # the same job. A failed send raises and rolls the whole batch back.
        oldest = (
            select(OutboxJob.id)
            .order_by(OutboxJob.id)
            .limit(self.batch_size)
            .with_for_update(skip_locked=True)
        )
        claim = (
            delete(OutboxJob)
            .where(OutboxJob.id.in_(oldest.scalar_subquery()))
            .returning(OutboxJob)
            .execution_options(synchronize_session=False)
        )
        async with self.database.session() as session:
            jobs = sorted((await session.scalars(claim)).all(), key=lambda job: job.id)
            if jobs:
                await self.send(jobs)
        if jobs:
            logger.debug("outbox_relayed", jobs=len(jobs))
        return len(jobs)


async def apply_once(session: AsyncSession, task_id: str, task_name: str) -> bool:
    """Record in the session's transaction that the job is applied; False if it already was.

    Call it first in the transaction that applies the job's effect: the record and the effect
    commit together or not at all, so a job delivered again is skipped.
    """
    try:
        async with session.begin_nested():
            session.add(AppliedJob(task_id=task_id, task_name=task_name))
            await flush(session)
    except UniqueViolationError:
        return False
    return True


async def purge_applied_jobs(session: AsyncSession, before: datetime) -> int:
    """Forget the jobs applied before `before`: no redelivery comes that late. Returns how many."""
    result = await session.execute(delete(AppliedJob).where(AppliedJob.applied_at < before))
    return int(result.rowcount)  # type: ignore[attr-defined]
