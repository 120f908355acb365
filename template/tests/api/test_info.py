"""The service information endpoint."""

from httpx import AsyncClient


async def test_info_names_the_running_service(client: AsyncClient) -> None:
    response = await client.get("/api/v1/info")

    assert response.status_code == 200
    body = response.json()
    assert body["environment"] == "test"
    assert body["version"] == "0.1.0"
    assert body["name"]
