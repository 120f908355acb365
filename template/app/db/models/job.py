"""The job queue's tables: the outbox of jobs waiting to be sent, and the jobs already applied."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, UTCDateTime


class OutboxJob(Base):
    """A job enqueued by a transaction that committed, until the relay has handed it to Redis."""

    __tablename__ = "job_outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[str] = mapped_column(String(32), unique=True)
    task_name: Mapped[str] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    # What it carries from its request: the request ID (and, with tracing, the trace context).
    labels: Mapped[dict[str, str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), server_default=func.current_timestamp()
    )


class AppliedJob(Base):
    """A job whose effect is committed: written in the same transaction as the effect, so a job
    delivered twice (its worker died after the commit) is applied once."""

    __tablename__ = "applied_jobs"

    task_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    task_name: Mapped[str] = mapped_column(String(200))
    applied_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), server_default=func.current_timestamp()
    )


class DeadJob(Base):
    """A job that failed for good (every attempt, or a failure that is not transient): kept with
    its arguments and error until `python -m app.commands.dead_jobs replay` sends it again."""

    __tablename__ = "dead_jobs"

    task_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    task_name: Mapped[str] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    labels: Mapped[dict[str, str]] = mapped_column(JSON)
    error: Mapped[str] = mapped_column(String(2000))
    attempts: Mapped[int] = mapped_column(Integer)
    failed_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), server_default=func.current_timestamp()
    )
