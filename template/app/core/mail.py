"""Account mail: written from the templates in app/templates/email/ and sent over SMTP.

`Mailer.send` makes one attempt and raises when it fails; the caller decides how often to try:
`deliver` below, after a response, or the job queue's retries when a mail is a job.
"""

import html
from email.message import EmailMessage
from functools import cache
from pathlib import Path
from string import Template

import aiosmtplib
from pydantic import BaseModel, ConfigDict
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from app.core.config import Settings
from app.core.resilience import record_retries_exhausted, record_retry

TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "email"
# A send that failed for one of these may succeed later: the server was away, slow or busy.
MAIL_FAILURES = (aiosmtplib.SMTPException, OSError)


class Mail(BaseModel):
    """One mail to one recipient, written and ready to send."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    to: str
    subject: str
    text: str
    html: str


@cache
def _template(name: str) -> Template:
    return Template((TEMPLATES / name).read_text(encoding="utf-8"))


def write_mail(template: str, *, to: str, subject: str, **values: str) -> Mail:
    """The mail of `template`: its .txt and .html files with each `$name` replaced by its value,
    escaped in the HTML."""
    escaped = {name: html.escape(value) for name, value in values.items()}
    return Mail(
        to=to,
        subject=subject,
        text=_template(f"{template}.txt").substitute(values),
        html=_template(f"{template}.html").substitute(escaped),
    )


class Mailer:
    """Sends mail through the SMTP server of the settings, a connection per mail."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def send(self, mail: Mail) -> None:
        settings = self.settings
        message = EmailMessage()
        message["From"] = settings.mail_sender
        message["To"] = mail.to
        message["Subject"] = mail.subject
        message.set_content(mail.text)
        message.add_alternative(mail.html, subtype="html")
        password = settings.smtp_password
        await aiosmtplib.send(
            message,
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=password.get_secret_value() if password is not None else None,
            use_tls=settings.smtp_security == "tls",
            start_tls=settings.smtp_security == "starttls",
            timeout=settings.smtp_timeout,
        )


async def deliver(mailer: Mailer, mail: Mail) -> None:
    """Send a mail after the response that caused it: `MAIL_SEND_ATTEMPTS` tries with growing,
    jittered waits; a mail that still cannot go is logged (`retries_exhausted`, never its body,
    which may carry a token) and dropped. It never raises: the request has been answered."""
    settings = mailer.settings
    retrying = AsyncRetrying(
        stop=stop_after_attempt(settings.mail_send_attempts),
        wait=wait_random_exponential(multiplier=settings.mail_retry_initial_wait, max=30.0),
        retry=retry_if_exception_type(MAIL_FAILURES),
        before_sleep=_before_sleep,
        reraise=True,
    )
    try:
        await retrying(mailer.send, mail)
    except MAIL_FAILURES as exc:
        record_retries_exhausted("mail_send", attempts=settings.mail_send_attempts, error=exc)


def _before_sleep(state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome is not None else None
    record_retry("mail_send", attempt=state.attempt_number, wait=state.upcoming_sleep, error=error)
