"""The account mail's job: one mail, one SMTP exchange.

A mail is sent at least once: a worker that dies between the server's acceptance and the
acknowledgement sends it again when the job is redelivered, which beats losing it. A server that
is away, slow or answers with a temporary failure (4xx) gets the job's retries; a permanent
refusal (5xx: no such mailbox, say) goes to the dead letter at once.
"""

import structlog
from aiosmtplib import SMTPResponseException
from taskiq import Context, TaskiqDepends

from app.core.jobs import RetryLater
from app.core.mail import Mailer
from app.jobs.state import Tasks, worker_state
from app.schemas.mail import SendMail

logger = structlog.get_logger(__name__)


async def send_mail(message: SendMail, context: Context = TaskiqDepends()) -> None:
    try:
        await Mailer(worker_state(context).settings).send(message.mail)
    except SMTPResponseException as exc:
        if 400 <= exc.code < 500:
            raise RetryLater(f"the SMTP server answered {exc.code}") from exc
        raise
    except (ConnectionError, TimeoutError):
        raise  # transient already: the job's retries take it
    except OSError as exc:  # the server's name did not resolve, the network is down
        raise RetryLater(f"the SMTP server could not be reached: {exc!r}") from exc
    logger.info("mail_sent", task=SendMail.task_name)


TASKS: Tasks = {SendMail: send_mail}
