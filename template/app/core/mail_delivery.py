"""Account mail sent after the response that caused it, with bounded retries, in the web process."""

import aiosmtplib
import structlog
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from app.core.mail import Mail, Mailer
from app.core.resilience import record_retries_exhausted, record_retry

logger = structlog.get_logger(__name__)

# A send that failed for one of these may succeed later: the server was away, slow or busy.
MAIL_FAILURES = (aiosmtplib.SMTPException, OSError)


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
    except Exception:
        # A mail no retry can help (one the client refuses to write, say): logged, with its why.
        logger.exception("mail_not_sent")


def _before_sleep(state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome is not None else None
    record_retry("mail_send", attempt=state.attempt_number, wait=state.upcoming_sleep, error=error)
