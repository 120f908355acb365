"""Sentry error reporting: started in the lifespan when SENTRY_DSN is set, a no-op otherwise.

Errors are reported from the two places that see them, each exactly once: the error handlers
(an AppError or HTTPException answered with a 5xx, or a 4xx when asked) and the server-error
middleware (an unhandled exception). Sentry's own automatic capture of the same errors is off.
A 503 of an unavailable dependency (ServiceUnavailableError) is reported once per
LOG_REPEAT_INTERVAL for each detail, with the count of those left out: in an outage every request
gets one, and one event says it as well as thousands, which would spend the project's quota.
"""

import re
from collections.abc import Awaitable, Callable
from typing import Any, cast

import sentry_sdk
from fastapi import FastAPI, Request
from sentry_sdk.integrations.fastapi import FastApiIntegration
from sentry_sdk.integrations.logging import LoggingIntegration
from sentry_sdk.integrations.starlette import StarletteIntegration
from sentry_sdk.types import Event, Hint
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from structlog.typing import EventDict

from app.core.config import Settings
from app.core.errors import AppError, ServiceUnavailableError
from app.core.repeats import RepeatGate, summarise_repeats
from app.core.request_context import current_request_id

SCRUBBED = "[Filtered]"
# Keys whose values never leave the process, wherever they appear in an event.
SECRET_KEY = re.compile(r"authorization|cookie|password|passwd|secret|token", re.IGNORECASE)

Handler = Callable[[Request, Any], Awaitable[Response]]
# Where the SDK's failures are logged: its own logger, and urllib3's, whose warning for each
# retry of an envelope Sentry did not take (three an event while Sentry is unreachable) is the
# one a service sees.
SDK_LOGGERS = ("sentry_sdk.errors", "urllib3.connectionpool")

_outages = RepeatGate()


def sentry_options(settings: Settings) -> dict[str, Any]:
    """The arguments of `sentry_sdk.init`, apart from where events are sent."""
    # No automatic capture: the integrations would report a handled HTTPException a second time,
    # and the logging one every `logger.exception` line. Its breadcrumbs are off too: the app's
    # own lines never pass through stdlib logging, so `add_breadcrumb` records every line.
    no_capture: set[int] = set()
    return {
        "dsn": settings.sentry_dsn,
        "environment": settings.environment,
        "release": settings.version,
        "traces_sample_rate": settings.sentry_traces_sample_rate,
        "before_send": before_send,
        "integrations": [
            StarletteIntegration(failed_request_status_codes=no_capture),
            FastApiIntegration(failed_request_status_codes=no_capture),
            LoggingIntegration(level=None, event_level=None),
        ],
    }


# What a breadcrumb shows apart from its data; the timestamp is the breadcrumb's own.
NOT_BREADCRUMB_DATA = frozenset({"event", "level", "logger", "timestamp"})


def add_breadcrumb(_logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
    """A structlog processor: each log line, the app's and the libraries', becomes a breadcrumb
    of the next event reported in the same request."""
    if sentry_sdk.get_client().is_active():
        sentry_sdk.add_breadcrumb(
            category=event_dict.get("logger"),
            message=str(event_dict.get("event")),
            level=method_name,
            data={
                key: value for key, value in event_dict.items() if key not in NOT_BREADCRUMB_DATA
            },
        )
    return event_dict


def init_sentry(settings: Settings) -> bool:
    """Start Sentry if SENTRY_DSN is set; say whether it was."""
    if not settings.sentry_dsn:
        return False
    sentry_sdk.init(**sentry_options(settings))
    summarise_repeats(SDK_LOGGERS)
    return True


def report_exception(exc: BaseException) -> None:
    """Send an error to Sentry, if it is started (the server-error middleware's `report`)."""
    sentry_sdk.capture_exception(exc)


def report_handled_errors(app: FastAPI, settings: Settings) -> None:
    """Wrap the AppError and HTTPException handlers so the errors worth a look are reported.

    A 5xx always is; a 4xx only with SENTRY_REPORT_CLIENT_ERRORS, since clients cause those.
    Call it after the handlers are registered.
    """
    threshold = 400 if settings.sentry_report_client_errors else 500
    for error_class in (AppError, StarletteHTTPException):
        handler = cast(Handler, app.exception_handlers[error_class])
        app.exception_handler(error_class)(_reporting(handler, threshold))


def _reporting(handler: Handler, threshold: int) -> Handler:
    async def report_then_handle(request: Request, exc: Exception) -> Response:
        if _status(exc) >= threshold:
            _report(exc)
        return await handler(request, exc)

    return report_then_handle


def _report(exc: Exception) -> None:
    if not isinstance(exc, ServiceUnavailableError):
        sentry_sdk.capture_exception(exc)
        return
    left_out = _outages.admit((type(exc), exc.detail))
    if left_out is None:
        return
    with sentry_sdk.new_scope() as scope:
        scope.set_extra("left_out", left_out)
        sentry_sdk.capture_exception(exc)


def _status(exc: BaseException) -> int:
    if isinstance(exc, AppError):
        return int(exc.status)
    if isinstance(exc, StarletteHTTPException):
        return exc.status_code
    return 500


def before_send(event: Event, hint: Hint) -> Event | None:
    """Add what the problem answer told the client, and the request ID; scrub secrets."""
    exc = hint.get("exc_info", (None, None, None))[1]
    tags = event.setdefault("tags", {})
    extra = event.setdefault("extra", {})
    if isinstance(exc, AppError | StarletteHTTPException):
        status = _status(exc)
        extra["detail"] = exc.detail
        extra["status"] = status
        tags["http_status"] = str(status)
    elif exc is not None:
        tags["http_status"] = "500"
    request_id = current_request_id()
    if request_id is not None:
        tags["request_id"] = request_id
        extra["request_id"] = request_id
    return cast(Event, _scrub(event))


def _scrub(value: Any) -> Any:
    """A copy of value with every secret-named key's value replaced, however deep.

    Keys are those of mappings and the first items of pairs: an ASGI scope in a frame's locals
    holds its headers as `[name, value]` pairs.
    """
    if isinstance(value, dict):
        return {key: SCRUBBED if _secret(key) else _scrub(item) for key, item in value.items()}
    if isinstance(value, list):
        if len(value) == 2 and _secret(value[0]):
            return [value[0], SCRUBBED]
        return [_scrub(item) for item in value]
    return value


def _secret(key: object) -> bool:
    return isinstance(key, str) and SECRET_KEY.search(key) is not None
