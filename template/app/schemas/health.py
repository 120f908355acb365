"""Bodies of the health probes."""

from typing import Literal

from pydantic import BaseModel


class Liveness(BaseModel):
    status: Literal["ok"] = "ok"


class CheckResult(BaseModel):
    status: Literal["ok", "failing"]
    latency_ms: float
    error: str | None = None


class Readiness(BaseModel):
    # "degraded": a noncritical check fails; the service still serves, and answers 200.
    status: Literal["ok", "degraded", "failing"]
    checks: dict[str, CheckResult]
