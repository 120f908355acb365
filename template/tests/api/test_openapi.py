"""The OpenAPI document tells the whole truth: every answer an operation can give, as it is sent."""

from typing import Any

import pytest
from httpx import AsyncClient

PROBLEM = "application/problem+json"
BODY_METHODS = {"post", "put", "patch", "delete"}

Operation = tuple[str, str, dict[str, Any]]


@pytest.fixture
async def document(client: AsyncClient) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    served: dict[str, Any] = response.json()
    return served


def operations(document: dict[str, Any]) -> list[Operation]:
    return [
        (method, path, operation)
        for path, by_method in document["paths"].items()
        for method, operation in by_method.items()
    ]


def declared(operation: dict[str, Any]) -> set[int]:
    return {int(status) for status in operation["responses"]}


def test_every_error_answer_is_a_problem(document: dict[str, Any]) -> None:
    errors = [
        (method, path, status, response)
        for method, path, operation in operations(document)
        for status, response in operation["responses"].items()
        if int(status) >= 400
    ]
    assert errors
    for method, path, status, response in errors:
        assert list(response["content"]) == [PROBLEM], (method, path, status)
        schema = "ValidationProblem" if status == "422" else "Problem"
        assert response["content"][PROBLEM]["schema"] == {
            "$ref": f"#/components/schemas/{schema}"
        }, (method, path, status)
    assert "HTTPValidationError" not in str(document)


def test_every_operation_has_a_readable_id_and_one_tag(document: dict[str, Any]) -> None:
    ids = [operation["operationId"] for _, _, operation in operations(document)]

    assert len(ids) == len(set(ids))
    for method, path, operation in operations(document):
        resource, _, action = operation["operationId"].partition("-")
        assert resource.isalpha(), operation["operationId"]
        assert action.replace("-", "").isalpha(), operation["operationId"]
        assert operation["tags"] == [resource], (method, path)


def test_what_every_operation_can_answer_is_declared(document: dict[str, Any]) -> None:
    for method, path, operation in operations(document):
        statuses = declared(operation)
        assert 500 in statuses, (method, path)
        if method in BODY_METHODS:
            assert 413 in statuses, (method, path)  # the body limit holds for all of them
        if "{" in path:
            assert {404, 422} <= statuses, (method, path)
        if operation.get("parameters") or "requestBody" in operation:
            assert 422 in statuses, (method, path)
        if operation.get("security"):
            assert 401 in statuses, (method, path)
        body = operation.get("requestBody", {}).get("content", {})
        if "application/json" in body:
            assert {400, 415} <= statuses, (method, path)


def test_success_answers_say_what_they_send(document: dict[str, Any]) -> None:
    for method, path, operation in operations(document):
        successes = [status for status in declared(operation) if status < 400]
        assert len(successes) == 1, (method, path, successes)
        response = operation["responses"][str(successes[0])]
        if successes[0] == 204:
            assert "content" not in response, (method, path)
        else:
            assert "application/json" in response["content"], (method, path)
