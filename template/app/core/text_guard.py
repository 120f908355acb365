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


class UnstorableTextError(RequestValidationError, HTTPException):
    """A 422 validation problem, raised while the body is read.

    FastAPI lets only an HTTPException out of its body parsing unchanged (any other error becomes
    a 400), and the error handlers find the validation handler first in this class's MRO, so the
    answer has the same shape as any other validation error.
    """

    def __init__(self, location: str) -> None:
        RequestValidationError.__init__(
            self, [{"loc": (location,), "msg": UNSTORABLE_MESSAGE, "type": "string_unstorable"}]
        )
        HTTPException.__init__(self, 422, UNSTORABLE_MESSAGE)


class TextGuardMiddleware:
    """Answers 422 for a JSON body, a query string or a path carrying a NUL or a lone surrogate.

    Innermost, inside the body-size limit: it reads the body as the app does, through the limit,
    and raises once the last chunk has arrived, which is before FastAPI has parsed the body and
    so before any dependency or route runs. The query string and the path are checked before the
    app is called. Other bodies pass untouched: a form cannot carry a surrogate, and a file may
    hold NUL bytes.
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
        if location is not None:
            request = Request(scope, receive)
            response = await handle_validation_error(request, UnstorableTextError(location))
            await response(scope, receive, send)
            return
        await self.app(scope, _scanned(receive) if is_json(scope) else receive, send)


def _scanned(receive: Receive) -> Receive:
    chunks: list[bytes] = []

    async def scanning_receive() -> Message:
        message = await receive()
        if message["type"] == "http.request":
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False) and has_unstorable_escape(b"".join(chunks)):
                # Raised inside the app, where the exception handlers render it.
                raise UnstorableTextError("body")
        return message

    return scanning_receive
