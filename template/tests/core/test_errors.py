"""Every error answer is RFC 9457 problem details with the request ID."""

from typing import Any

from httpx import AsyncClient


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert {"type", "title", "status", "detail", "request_id"} <= set(body)
    assert body["status"] == status
    assert body["request_id"] == response.headers["x-request-id"]
    return body


async def test_an_unknown_path_is_a_404_problem(client: AsyncClient) -> None:
    body = assert_problem(await client.get("/api/v1/nothing-here"), 404)

    assert body["title"] == "Not Found"
    assert body["instance"] == "/api/v1/nothing-here"


async def test_a_wrong_method_is_a_405_problem(client: AsyncClient) -> None:
    response = await client.delete("/health/live")

    assert_problem(response, 405)
    assert response.headers["allow"] == "GET"
