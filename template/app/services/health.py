"""Readiness: every dependency checked at once, each within its own timeout.

A failing check fails readiness, unless it is noncritical (the service still serves correctly
without that dependency): then readiness is only "degraded", and the pod keeps its traffic.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable, Collection, Mapping

import structlog

from app.schemas.health import CheckResult, Readiness

ReadinessCheck = Callable[[], Awaitable[object]]

logger = structlog.get_logger(__name__)


async def check_readiness(
    checks: Mapping[str, ReadinessCheck],
    seconds_per_check: float,
    noncritical: Collection[str] = (),
) -> Readiness:
    results = await asyncio.gather(
        *(_run(name, check, seconds_per_check) for name, check in checks.items())
    )
    report = dict(zip(checks, results, strict=True))
    failing = {name for name, result in report.items() if result.status == "failing"}
    if failing - set(noncritical):
        return Readiness(status="failing", checks=report)
    return Readiness(status="degraded" if failing else "ok", checks=report)


async def _run(name: str, check: ReadinessCheck, seconds: float) -> CheckResult:
    start = time.perf_counter()
    try:
        async with asyncio.timeout(seconds):
            await check()
    except Exception as exc:
        latency_ms = _elapsed_ms(start)
        # Only the exception's class goes into the response: its message may hold hosts or SQL.
        logger.warning("readiness_check_failed", check=name, error=repr(exc), latency_ms=latency_ms)
        return CheckResult(status="failing", latency_ms=latency_ms, error=type(exc).__name__)
    return CheckResult(status="ok", latency_ms=_elapsed_ms(start))


def _elapsed_ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 2)
