"""The job that sends one account mail, written in full by the request that caused it."""

from app.core.jobs import JobMessage
from app.core.mail import Mail


class SendMail(JobMessage, task="mail.send"):
    """Send this mail. Its text may carry a single-use token (a reset link), which expires on
    its own: a dead letter of it is of no use to anyone once the link's time is up."""

    mail: Mail
