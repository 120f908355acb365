"""Account mail as jobs: written to the outbox in the transaction of the request that caused
it, so a request that fails sends nothing, and sent by the worker, so an SMTP or Redis outage
delays a mail without losing it (app/jobs/mail.py)."""

from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.mail import Mail
from app.db.outbox import JobQueue
from app.schemas.mail import SendMail


def mail_by_job(session: AsyncSession) -> Callable[[Mail], None]:
    """What a service hands its mail to: each mail becomes a job of the session's transaction."""
    jobs = JobQueue(session)

    def enqueue(mail: Mail) -> None:
        jobs.enqueue(SendMail(mail=mail))

    return enqueue
