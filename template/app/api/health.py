"""Health probes: liveness never touches a dependency, readiness checks them all.

They sit outside the versioned API: never rate-limited, authenticated or access-logged.
"""

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from app.api.deps import SettingsDep, service_state
from app.api.openapi import problem_responses
from app.core.errors import problem_response, request_path
from app.schemas.health import Liveness, Readiness
from app.services.health import check_readiness

LIVE_PATH = "/health/live"
READY_PATH = "/health/ready"
HEALTH_PATHS = (LIVE_PATH, READY_PATH)

router = APIRouter(tags=["health"])


@router.get(
    LIVE_PATH, operation_id="health-live", response_model=Liveness, responses=problem_responses()
)
async def liveness() -> Liveness:
    """The process is up and serving; restart it if this fails."""
    return Liveness()


@router.get(
    READY_PATH,
    operation_id="health-ready",
    response_model=Readiness,
    responses=problem_responses(503),
)
async def readiness(request: Request, settings: SettingsDep) -> Readiness | JSONResponse:
    """Every critical dependency answers within its timeout; stop routing traffic here if not.

    A failing noncritical dependency answers 200 with `"status": "degraded"`.
    """
    state = service_state(request.app)
    report = await check_readiness(
        state.readiness_checks, settings.health_check_timeout, state.noncritical_checks
    )
    if report.status != "failing":
        return report
    failing = sorted(name for name, check in report.checks.items() if check.status == "failing")
    return problem_response(
        503,
        f"Not ready: {', '.join(failing)} failing.",
        type_="urn:problem:not-ready",
        instance=request_path(request.scope),
        checks=report.model_dump()["checks"],
    )
