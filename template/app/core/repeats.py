"""Failures that repeat are written once per interval, with a count of the repeats left out.

During an outage every request fails the same way, and so does every batch a trace exporter or
Sentry's transport tries to send: a line for each would bury the first one, and cost as much as
the requests. So the first failure of each kind is written, then at most one per
LOG_REPEAT_INTERVAL seconds, saying how many like it were left out since the last line. The
count comes with the next line of that kind: when the failures stop, so do the lines.
"""

import logging
import threading
import time
import weakref
from collections.abc import Hashable, Iterable

_interval = 10.0
_gates: "weakref.WeakSet[RepeatGate]" = weakref.WeakSet()


def configure_repeats(interval: float) -> None:
    """Set every gate's interval (0 writes every failure) and forget what they have seen.

    The app factory calls it with LOG_REPEAT_INTERVAL, so a new app starts with no history.
    """
    global _interval
    _interval = interval
    for gate in list(_gates):
        gate.forget()


class RepeatGate:
    """Decides which occurrences of a repeated failure are written: the first of each kind, then
    one per interval. Safe across threads: exporters and Sentry's transport log from their own."""

    def __init__(self) -> None:
        self._written_at: dict[Hashable, float] = {}
        self._left_out: dict[Hashable, int] = {}
        self._lock = threading.Lock()
        _gates.add(self)

    def admit(self, kind: Hashable) -> int | None:
        """None: leave this occurrence out. Else write it, with how many of its kind were left
        out since the last one written (0 for the first)."""
        if _interval <= 0:
            return 0
        now = time.monotonic()
        with self._lock:
            written_at = self._written_at.get(kind)
            if written_at is not None and now - written_at < _interval:
                self._left_out[kind] = self._left_out.get(kind, 0) + 1
                return None
            self._written_at[kind] = now
            return self._left_out.pop(kind, 0)

    def forget(self) -> None:
        with self._lock:
            self._written_at.clear()
            self._left_out.clear()


class RepeatFilter(logging.Filter):
    """A stdlib filter for a library's logger: a record repeating an earlier one (same logger,
    level and message template) passes once per interval, its message saying how many did not."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = RepeatGate()

    def filter(self, record: logging.LogRecord) -> bool:
        left_out = self.gate.admit((record.name, record.levelno, str(record.msg)))
        if left_out is None:
            return False
        if left_out:
            record.msg = f"{record.getMessage()} (and {left_out} times more since the last line)"
            record.args = None
        return True


def summarise_repeats(logger_names: Iterable[str]) -> None:
    """Put a RepeatFilter on each named logger (once). A logger's filters see only the records
    logged on it, not its children's, so each logger that reports failures is named."""
    for name in logger_names:
        logger = logging.getLogger(name)
        if not any(isinstance(existing, RepeatFilter) for existing in logger.filters):
            logger.addFilter(RepeatFilter())
