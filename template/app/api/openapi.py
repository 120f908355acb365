"""Error answers in the OpenAPI document: one Problem schema, under application/problem+json."""

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from app.core.errors import PROBLEM_MEDIA_TYPE
from app.schemas.problem import Problem, ValidationProblem

ERROR_DESCRIPTIONS = {
    400: "The body could not be parsed: not valid JSON, not UTF-8, or a broken form.",
    401: "No valid access token; see the WWW-Authenticate header.",
    403: "Authenticated, but not allowed to do this.",
    404: "The resource does not exist.",
    409: "The request conflicts with the current state (for example a duplicate).",
    413: "The body is larger than the service accepts.",
    415: "The body is not sent as application/json.",
    422: "The request failed validation; `errors` lists each problem.",
    429: "Too many requests; Retry-After says when to try again.",
    500: "An unexpected error; the detail is generic and the request_id finds the log.",
    503: "A dependency is unavailable.",
}

# What any operation taking a JSON body can answer about the body itself.
JSON_BODY_ERRORS = (400, 413, 415, 422)
# A form body is parsed whatever its Content-Type says, so it is never a 415.
FORM_BODY_ERRORS = (400, 413, 422)
# What any operation using a database session can answer: it waited past DATABASE_POOL_TIMEOUT,
# or the database could not be reached in DATABASE_CONNECT_ATTEMPTS.
DATABASE_ERRORS = (503,)


def problem_responses(
    *statuses: int, described: Mapping[int, str] | None = None
) -> dict[int | str, dict[str, Any]]:
    """Declare the problem answers an operation can give; every operation can give a 500.

    `described` gives a status a description of the operation's own, in place of the usual one:
    `described={400: "... or the token is used, expired or unknown."}`.
    """
    descriptions = ERROR_DESCRIPTIONS | dict(described or {})
    return {
        status: {
            "model": ValidationProblem if status == HTTPStatus.UNPROCESSABLE_ENTITY else Problem,
            "description": descriptions[status],
        }
        for status in sorted({*statuses, 500})
    }


def created_response(description: str) -> dict[int | str, dict[str, Any]]:
    """The 201 of an operation that creates a resource, with the Location header it sends."""
    location = {
        "description": "The path of the new resource.",
        "required": True,
        "schema": {"type": "string"},
    }
    return {201: {"description": description, "headers": {"Location": location}}}


def install_openapi(app: FastAPI) -> None:
    """Generate the document once, moving every error answer to application/problem+json."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            for operation in _operations(schema):
                for status, response in operation.get("responses", {}).items():
                    content = response.get("content", {})
                    if status.isdigit() and int(status) >= 400 and "application/json" in content:
                        content[PROBLEM_MEDIA_TYPE] = content.pop("application/json")
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _operations(schema: dict[str, Any]) -> list[dict[str, Any]]:
    return [op for path in schema.get("paths", {}).values() for op in path.values()]
