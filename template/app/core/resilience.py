"""Where every retry and every circuit-breaker transition is reported: logged now, counted later.

Code that retries or trips a breaker calls these two functions and nothing else, so a metric
(a counter of retries by operation, of transitions by breaker and state) attaches in one place.
"""

import structlog

logger = structlog.get_logger(__name__)


def record_retry(operation: str, *, attempt: int, wait: float, error: BaseException | None) -> None:
    """Attempt `attempt` of `operation` failed with a transient error; the next comes in `wait` s."""
    logger.warning(
        "retry",
        operation=operation,
        attempt=attempt,
        wait=round(wait, 3),
        error=repr(error),
    )


def record_retries_exhausted(operation: str, *, attempts: int, error: BaseException) -> None:
    """Every attempt `operation` was allowed failed; the error now reaches the caller."""
    logger.error("retries_exhausted", operation=operation, attempts=attempts, error=repr(error))


def record_circuit_transition(breaker: str, *, old: str, new: str, failures: int) -> None:
    """Breaker `breaker` went from state `old` to `new` after `failures` failures in a row."""
    log = logger.warning if new == "open" else logger.info
    log("circuit_state_changed", breaker=breaker, old=old, new=new, failures=failures)
