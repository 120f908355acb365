"""structlog set-up: one renderer for the app's logs and for stdlib, uvicorn and gunicorn logs."""

import logging
import logging.config
import sys
import threading
from collections.abc import Sequence
from typing import Any, TextIO

import structlog

from app.core.config import Settings

# Loggers of the servers we run under; their records go through our renderer, and their own
# access logs stay off because the access-log middleware writes one line per request.
SERVER_LOGGERS = ("uvicorn", "uvicorn.error", "gunicorn.error")
SILENCED_LOGGERS = ("uvicorn.access", "gunicorn.access")
# Client libraries that log every call at INFO; their warnings still come through.
QUIET_LOGGERS = ("httpx", "httpcore")


class StderrLogger:
    """Where the app's own log lines go: straight to stderr, one write per line.

    stdlib's logging would build a record, take its handler's lock and run its formatter for
    each line: three times what structlog's own path costs, paid by every request's access line.
    The stream is looked up at each write, so a test that captures stderr sees the lines.
    """

    _lock = threading.Lock()

    def __init__(self, name: str = "") -> None:
        self.name = name  # read by add_logger_name, as a stdlib logger's would be

    def msg(self, message: str) -> None:
        with self._lock:
            stream = sys.stderr
            stream.write(message + "\n")
            stream.flush()

    debug = info = warning = error = critical = exception = msg


class StderrHandler(logging.StreamHandler[TextIO]):
    """The stdlib handler of the libraries' lines (uvicorn, gunicorn, SQLAlchemy...), which
    looks stderr up at each record, as StderrLogger does and as stdlib's own last-resort handler
    does: a handler made while a test captured stderr would otherwise keep writing to that
    capture after it has closed."""

    def emit(self, record: logging.LogRecord) -> None:
        # Under the handler's lock (Handler.handle takes it), so no other thread sees the swap.
        self.stream = sys.stderr
        super().emit(record)


def configure_logging(
    settings: Settings, processors: Sequence[structlog.typing.Processor] = ()
) -> None:
    """Configure structlog and stdlib logging; `processors` add fields to every line."""
    shared, renderer = _pipeline(settings, processors)
    # The app's loggers render and write on their own; the servers' and libraries' stdlib records
    # go through the same processors in the formatter below, so every line looks alike. Loggers
    # are not cached: each line follows the latest configuration, for under a microsecond more.
    structlog.configure(
        processors=[*shared, renderer],
        logger_factory=StderrLogger,
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[settings.log_level]
        ),
        cache_logger_on_first_use=False,
    )
    logging.config.dictConfig(_stdlib_config(shared, renderer, settings.log_level))


def server_logging_config(settings: Settings) -> dict[str, Any]:
    """gunicorn's `logconfig_dict`: the master's own lines rendered as the app renders its own."""
    return _stdlib_config(*_pipeline(settings, ()), settings.log_level)


def _pipeline(
    settings: Settings, processors: Sequence[structlog.typing.Processor]
) -> tuple[list[structlog.typing.Processor], structlog.typing.Processor]:
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        *processors,
    ]
    renderer: structlog.typing.Processor
    if settings.json_logs:
        shared.append(structlog.processors.format_exc_info)
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer()
    return shared, renderer


def _stdlib_config(
    shared: list[structlog.typing.Processor], renderer: structlog.typing.Processor, level: str
) -> dict[str, Any]:
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "structlog": {
                "()": structlog.stdlib.ProcessorFormatter,
                "foreign_pre_chain": shared,
                "processors": [
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    renderer,
                ],
            }
        },
        "handlers": {"default": {"()": StderrHandler, "formatter": "structlog"}},
        "root": {"handlers": ["default"], "level": level},
        "loggers": {
            **{name: {"handlers": [], "propagate": True} for name in SERVER_LOGGERS},
            **{name: {"handlers": [], "propagate": False} for name in SILENCED_LOGGERS},
            **{name: {"level": "WARNING"} for name in QUIET_LOGGERS},
        },
    }
