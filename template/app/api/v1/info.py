"""What is running: name, version and environment, for dashboards and smoke tests."""

from app.api.deps import SettingsDep
from app.api.openapi import problem_responses
from app.api.v1 import ResourceRouter
from app.schemas.info import ServiceInfo

router = ResourceRouter("info")


@router.get("", operation_id="info-get", response_model=ServiceInfo, responses=problem_responses())
async def get_info(settings: SettingsDep) -> ServiceInfo:
    return ServiceInfo(
        name=settings.project_name, version=settings.version, environment=settings.environment
    )
