"""Account mail: written from the templates in app/templates/email/ and sent over SMTP.

`Mailer.send` makes one attempt and raises when it fails; who sends decides how often to try.
"""

import html
from email.message import EmailMessage
from functools import cache
from pathlib import Path
from string import Template

import aiosmtplib
from pydantic import BaseModel, ConfigDict

from app.core.config import Settings

TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "email"


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
