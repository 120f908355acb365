"""Account mail as a job: enqueued in the request's transaction, sent by the worker, retried
while the SMTP server refuses for a while, kept in the dead letter when it refuses for good."""

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.api.deps import service_state
from app.commands.dead_jobs import dead_jobs
from app.core.config import Settings
from app.core.mail import Mail
from app.db.models.job import OutboxJob
from app.db.outbox import OutboxRelay
from app.schemas.mail import SendMail
from app.services.mail import mail_by_job
from tests.support.accounts import sign_up
from tests.support.jobs import JobStream, enqueue, eventually, eventually_async, running_worker
from tests.support.smtp_server import NO_SUCH_MAILBOX, Mailbox

MAIL = Mail(to="ada@example.com", subject="Hello", text="Hello, Ada.", html="<p>Hello, Ada.</p>")


@pytest.fixture
def mail_worker_settings(worker_settings: Settings) -> Settings:
    """The test worker's settings, with time for an SMTP exchange in each run."""
    return worker_settings.model_copy(
        update={"jobs_time_limit": 5.0, "jobs_redelivery_timeout": 60.0}
    )


async def test_the_worker_sends_the_mail_of_committed_requests(
    app: FastAPI,
    client: AsyncClient,
    job_stream: JobStream,
    mail_worker_settings: Settings,
    mailbox: Mailbox,
) -> None:
    await sign_up(client, "ada@example.com")

    asked = await client.post("/api/v1/auth/password-reset", json={"email": "ada@example.com"})

    assert asked.status_code == 202
    assert mailbox.messages == []  # nothing is sent from a request itself
    relay = OutboxRelay.to_broker(
        service_state(app).database, job_stream.broker, job_stream.settings
    )
    assert await relay.relay() == 2  # the sign-up's verification mail, and the reset's
    messages = await job_stream.messages()
    assert [message["task_name"] for message in messages] == [SendMail.task_name] * 2
    assert messages[1]["labels"]["request_id"] == asked.headers["x-request-id"]
    async with running_worker(mail_worker_settings):
        await eventually(lambda: len(mailbox.messages) == 2, "both mails")
    subjects = sorted(mail["Subject"].split()[0] for mail in mailbox.messages)
    assert subjects == ["Confirm", "Reset"]
    assert {mail["To"] for mail in mailbox.messages} == {"ada@example.com"}


async def test_a_mail_the_server_refuses_for_a_while_is_sent_on_a_retry(
    job_stream: JobStream, mail_worker_settings: Settings, mailbox: Mailbox
) -> None:
    mailbox.refuse = 2

    async with running_worker(mail_worker_settings):
        await enqueue(job_stream, SendMail(mail=MAIL), "m" * 32)
        await eventually(lambda: mailbox.messages, "the mail")

    assert [mail["To"] for mail in mailbox.messages] == ["ada@example.com"]
    assert mailbox.refuse == 0
    assert await dead_jobs(mail_worker_settings) == []


async def test_a_mail_the_server_refuses_for_good_is_kept_in_the_dead_letter(
    job_stream: JobStream, mail_worker_settings: Settings, mailbox: Mailbox
) -> None:
    mailbox.refuse, mailbox.refusal = 1, NO_SUCH_MAILBOX

    async with running_worker(mail_worker_settings):
        task_id = await enqueue(job_stream, SendMail(mail=MAIL), "r" * 32)

        async def buried() -> bool:
            return bool(await dead_jobs(mail_worker_settings))

        await eventually_async(buried, "a dead job")

    [dead] = await dead_jobs(mail_worker_settings)
    assert (dead.task_id, dead.attempts) == (task_id, 1)  # a permanent refusal: no retry
    assert "550" in dead.error
    assert SendMail.model_validate(dead.payload).mail == MAIL
    assert mailbox.messages == []


async def test_a_mail_of_a_rolled_back_transaction_is_never_sent(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    async def enqueue_then_fail() -> None:
        async with session_factory() as session:
            mail_by_job(session)(MAIL)
            await session.flush()
            raise RuntimeError("the write fails after the mail was enqueued")

    with pytest.raises(RuntimeError):
        await enqueue_then_fail()

    async with session_factory() as session:
        assert await session.scalar(select(func.count()).select_from(OutboxJob)) == 0
