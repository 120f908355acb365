"""The OpenAPI document declares every error answer as a problem, never FastAPI's default 422."""

from httpx import AsyncClient

PROBLEM = "application/problem+json"


async def test_every_error_answer_is_a_problem(client: AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()

    errors = [
        (path, method, status, response)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        for status, response in operation["responses"].items()
        if int(status) >= 400
    ]
    assert errors
    for path, method, status, response in errors:
        assert list(response["content"]) == [PROBLEM], (path, method, status)
    assert "HTTPValidationError" not in str(document)


async def test_every_operation_declares_a_500_and_has_a_readable_id(client: AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()

    for operations in document["paths"].values():
        for operation in operations.values():
            assert "500" in operation["responses"]
            assert operation["operationId"].replace("-", "").isalpha()
