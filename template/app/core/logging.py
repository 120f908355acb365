"""structlog set-up: one renderer for the app's logs and for stdlib, uvicorn and gunicorn logs."""

import logging
import logging.config
from collections.abc import Sequence
from typing import Any

import structlog

from app.core.config import Settings

# Loggers of the servers we run under; their records go through our renderer, and their own
# access logs stay off because the access-log middleware writes one line per request.
SERVER_LOGGERS = ("uvicorn", "uvicorn.error", "gunicorn.error")
SILENCED_LOGGERS = ("uvicorn.access", "gunicorn.access")
# Client libraries that log every call at INFO; their warnings still come through.
QUIET_LOGGERS = ("httpx", "httpcore")


def configure_logging(
    settings: Settings, processors: Sequence[structlog.typing.Processor] = ()
) -> None:
    """Configure structlog and stdlib logging; `processors` add fields to every line."""
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

    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )

    handler_config: dict[str, Any] = {"class": "logging.StreamHandler", "formatter": "structlog"}
    logging.config.dictConfig(
        {
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
            "handlers": {"default": handler_config},
            "root": {"handlers": ["default"], "level": settings.log_level},
            "loggers": {
                **{name: {"handlers": [], "propagate": True} for name in SERVER_LOGGERS},
                **{name: {"handlers": [], "propagate": False} for name in SILENCED_LOGGERS},
                **{name: {"level": "WARNING"} for name in QUIET_LOGGERS},
            },
        }
    )
