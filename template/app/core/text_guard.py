"""Refuse request text that nothing downstream can take, before any route sees it.

JSON may escape characters that valid text cannot hold: `\\u0000` (NUL, which PostgreSQL refuses
in any string) and lone surrogates such as `\\ud800` (which no UTF-8 encoder accepts: the
database driver's, the password hasher's, the response's). A plain `str` field takes both, and
deep down they become a 500. Here they are a 422, for every JSON body, query string and path, so
a resource's own fields need no special type.
"""

import re

from fastapi import HTTPException, Request
from fastapi.exceptions import RequestValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.errors import handle_validation_error

# What a suspect escape looks like; most bodies have none, and are passed after one search.
SUSPECT = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")
# Each escape in turn, so an escaped backslash (`\\`) never starts one; a surrogate pair, which
# is valid text, is one match. The group holds the hex digits of a \u escape.
ESCAPE = re.compile(
    rb"\\(?:u(d[89ab][0-9a-f]{2}\\ud[c-f][0-9a-f]{2}|[0-9a-f]{4})|.)", re.IGNORECASE | re.DOTALL
)
UNSTORABLE_CODE = re.compile(rb"0000|d[89a-f][0-9a-f]{2}", re.IGNORECASE)
UNSTORABLE_MESSAGE = "Text must not contain NUL characters or lone surrogates."


def has_unstorable_escape(body: bytes) -> bool:
    """True if a JSON document escapes a NUL or a lone surrogate anywhere, keys included."""
    if SUSPECT.search(body) is None:
        return False  # the usual body, even one full of escapes such as \u00e9
    return any(
        code is not None and UNSTORABLE_CODE.fullmatch(code)
        for code in (match.group(1) for match in ESCAPE.finditer(body))
    )


def is_json(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-type":
            media_type = bytes(value).partition(b";")[0].strip().lower()
            return media_type == b"application/json" or media_type.endswith(b"+json")
    return False


def unstorable_text_error(location: str) -> RequestValidationError:
    """The validation error of unstorable text, answered like any other validation error."""
    return RequestValidationError(
        [{"loc": (location,), "msg": UNSTORABLE_MESSAGE, "type": "string_unstorable"}]
    )


class TextGuardMiddleware:
    """Answers 422 for a JSON body, a query string or a path carrying a NUL or a lone surrogate.

    Innermost, inside the body-size limit and the read timeout: it reads a JSON body in full
    through them before calling the app (FastAPI reads it in full anyway), answers the problem
    itself when the body is refused, and otherwise hands the app the same messages. So nothing
    downstream runs for a refused request: no dependency, no route, no integration that reads the
    body again. Other bodies pass untouched: a form cannot carry a surrogate, and a file may hold
    NUL bytes.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        location = "query" if b"%00" in scope["query_string"] else None
        if "\x00" in scope["path"]:
            location = "path"
        if location is None and is_json(scope):
            receive, refused = await _read_body(receive)
            if refused:
                location = "body"
        if location is not None:
            request = Request(scope, receive)
            response = await handle_validation_error(request, unstorable_text_error(location))
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


async def _read_body(receive: Receive) -> tuple[Receive, bool]:
    """Reads the body's messages up to its last chunk (or the client's disconnect).

    Returns a receive that gives those messages again, in order, then whatever the server sends
    next, and whether the body holds unstorable text. A refusal raised while reading (the size
    limit's 413, the read timeout's 408) is raised again by the returned receive, inside the app,
    where the problem handlers answer it as they would without this middleware; it is raised at
    every later read too, so nothing waits on a body that will never come. The body stays inside
    the returned closure, never in a frame that is still running while the app runs: error
    reporters that record frames' variables (Sentry) never see a request's raw body.
    """
    pending: list[Message] = []
    failure: HTTPException | None = None
    try:
        while True:
            message = await receive()
            pending.append(message)
            if message["type"] != "http.request" or not message.get("more_body", False):
                break
    except HTTPException as error:
        failure = error
    refused = failure is None and has_unstorable_escape(
        b"".join(message.get("body", b"") for message in pending)
    )

    async def replaying_receive() -> Message:
        if failure is not None:
            raise failure
        if pending:
            return pending.pop(0)
        return await receive()

    return replaying_receive, refused
