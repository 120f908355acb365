"""Domain errors and the handlers that turn every error into RFC 9457 problem details."""

import json
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse
from starlette.types import Scope

from app.core.request_context import current_request_id

PROBLEM_MEDIA_TYPE = "application/problem+json"
# What FastAPI raises, as a 400, for a body it cannot decode at all (not UTF-8, a broken form).
FASTAPI_BODY_ERROR = "There was an error parsing the body"


class ProblemResponse(JSONResponse):
    media_type = PROBLEM_MEDIA_TYPE

    def render(self, content: Any) -> bytes:
        # ASCII with escapes: an error may quote text the client sent (an unknown field's name),
        # and a lone surrogate in it must not turn the error into a 500.
        return json.dumps(content, separators=(",", ":")).encode("ascii")


class AppError(Exception):
    """Base of the errors raised on purpose; `status` and `type` give their HTTP meaning."""

    status: int = HTTPStatus.INTERNAL_SERVER_ERROR
    type: str = "about:blank"
    title: str | None = None
    default_headers: ClassVar[Mapping[str, str]] = {}
    # The request's transaction is rolled back on an error, unless the error is itself the
    # change to keep (a revoked token family, say).
    keep_changes: bool = False

    def __init__(self, detail: str, *, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = {**self.default_headers, **(headers or {})}


class UnauthorizedError(AppError):
    status = HTTPStatus.UNAUTHORIZED
    type = "urn:problem:unauthorized"
    default_headers: ClassVar[Mapping[str, str]] = {"WWW-Authenticate": "Bearer"}


class ForbiddenError(AppError):
    status = HTTPStatus.FORBIDDEN
    type = "urn:problem:forbidden"


class NotFoundError(AppError):
    status = HTTPStatus.NOT_FOUND
    type = "urn:problem:not-found"


class ConflictError(AppError):
    status = HTTPStatus.CONFLICT
    type = "urn:problem:conflict"


class ServiceUnavailableError(AppError):
    status = HTTPStatus.SERVICE_UNAVAILABLE
    type = "urn:problem:service-unavailable"


def request_path(scope: Scope) -> str:
    """The path as the client sent it, for a problem's `instance`.

    Never `request.url.path`: Starlette builds that URL from the Host header, which the client
    chooses, so a crafted Host could put any text there.
    """
    raw_path: bytes | None = scope.get("raw_path")
    return raw_path.decode("latin-1") if raw_path else str(scope["path"])


def problem_body(
    status: int,
    detail: str,
    *,
    type_: str = "about:blank",
    title: str | None = None,
    instance: str | None = None,
    **extensions: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": type_,
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if instance is not None:
        body["instance"] = instance
    body["request_id"] = current_request_id()
    body.update(extensions)
    return body


def problem_response(
    status: int,
    detail: str,
    *,
    headers: Mapping[str, str] | None = None,
    **fields: Any,
) -> ProblemResponse:
    return ProblemResponse(
        problem_body(status, detail, **fields), status_code=status, headers=headers
    )


async def handle_app_error(request: Request, exc: AppError) -> ProblemResponse:
    return problem_response(
        exc.status,
        exc.detail,
        type_=exc.type,
        title=exc.title,
        instance=request_path(request.scope),
        headers=exc.headers,
    )


async def handle_http_exception(request: Request, exc: StarletteHTTPException) -> ProblemResponse:
    if exc.status_code == HTTPStatus.BAD_REQUEST and exc.detail == FASTAPI_BODY_ERROR:
        return malformed_body(request, "The body could not be decoded.")
    # Starlette's own detail is the status phrase (e.g. "Not Found"); say something more useful.
    detail = (
        exc.detail if exc.detail != HTTPStatus(exc.status_code).phrase else _default_detail(exc)
    )
    return problem_response(
        exc.status_code, detail, instance=request_path(request.scope), headers=exc.headers
    )


def _default_detail(exc: StarletteHTTPException) -> str:
    if exc.status_code == HTTPStatus.NOT_FOUND:
        return "No resource matches this path."
    if exc.status_code == HTTPStatus.METHOD_NOT_ALLOWED:
        return "This path does not accept that method."
    return HTTPStatus(exc.status_code).description


def malformed_body(request: Request, detail: str) -> ProblemResponse:
    """A body that cannot be parsed is a 400: 422 is for content parsed and found invalid."""
    return problem_response(
        HTTPStatus.BAD_REQUEST,
        detail,
        type_="urn:problem:malformed-body",
        instance=request_path(request.scope),
    )


async def handle_validation_error(request: Request, exc: RequestValidationError) -> ProblemResponse:
    errors = exc.errors()
    if any(error["type"] == "json_invalid" for error in errors):
        return malformed_body(request, "The body is not valid JSON.")
    if any(_is_undecoded_body(error) for error in errors):
        return problem_response(
            HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
            "Send the body as application/json.",
            type_="urn:problem:unsupported-media-type",
            instance=request_path(request.scope),
        )
    return problem_response(
        HTTPStatus.UNPROCESSABLE_ENTITY,
        "The request is not valid; see `errors`.",
        type_="urn:problem:validation",
        instance=request_path(request.scope),
        errors=_public_errors(errors),
    )


def _is_undecoded_body(error: Mapping[str, Any]) -> bool:
    # FastAPI decodes a body as JSON only when its Content-Type says JSON; otherwise the raw
    # bytes reach validation, and fail as a whole.
    return tuple(error["loc"]) == ("body",) and isinstance(error.get("input"), bytes)


def _public_errors(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """Keep location, message and type; drop `input` and `ctx`, which may echo secrets back."""
    return [
        {"loc": list(error["loc"]), "msg": error["msg"], "type": error["type"]}
        for error in jsonable_encoder(errors)
    ]


def register_error_handlers(app: FastAPI) -> None:
    # The decorator form keeps each handler's precise exception type visible to mypy.
    app.exception_handler(AppError)(handle_app_error)
    app.exception_handler(StarletteHTTPException)(handle_http_exception)
    app.exception_handler(RequestValidationError)(handle_validation_error)
