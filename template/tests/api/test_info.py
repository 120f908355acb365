"""The service information endpoint."""

from httpx import AsyncClient

from tests.conftest import SettingsFactory


async def test_info_names_the_running_service(
    client: AsyncClient, settings_factory: SettingsFactory
) -> None:
    settings = settings_factory()

    response = await client.get("/api/v1/info")

    assert response.status_code == 200
    assert response.json() == {
        "name": settings.project_name,
        "version": settings.version,
        "environment": "test",
    }
