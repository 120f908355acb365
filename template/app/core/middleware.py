"""Pure ASGI middleware. Outermost first, the stack is:

RequestIdMiddleware -> AccessLogMiddleware -> SecurityHeadersMiddleware -> AllowedHostsMiddleware
-> CORS -> ServerErrorMiddleware -> BodyReadTimeoutMiddleware -> BodySizeLimitMiddleware
-> TextGuardMiddleware (text_guard.py) -> the app.

Pure ASGI (never BaseHTTPMiddleware) keeps contextvars intact and responses streaming.
"""

import asyncio
import re
import secrets
import time
from collections.abc import Callable, Iterable

import structlog
from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.errors import problem_response, request_path
from app.core.request_context import request_id_var

REQUEST_ID_HEADER = b"x-request-id"
# An incoming ID is kept only if it is short and plain, so it is safe to log and echo back.
VALID_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:-]{8,128}$")

# Methods whose body, if a client sends one, no route reads.
BODYLESS_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# One name for every path no route matched, so a scanner cannot multiply log fields or series.
UNMATCHED_ROUTE = "<unmatched>"

access_logger = structlog.get_logger("app.access")
error_logger = structlog.get_logger("app.errors")


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


def route_template(scope: Scope) -> str:
    """The path template of the route that matched (`/api/v1/items/{item_id}`), never the raw path.

    Read after the app has run: the router records its match in the scope. A raw path would put
    every ID in a log field or metric label of its own.
    """
    return getattr(scope.get("route"), "path", UNMATCHED_ROUTE)


class StatusRecorder:
    """A `send` that remembers the response's status on its way out.

    The status stays 500 until a response starts: an exception that escapes the app becomes the
    500 that the error middleware answers.
    """

    __slots__ = ("send", "status")

    def __init__(self, send: Send) -> None:
        self.send = send
        self.status = 500

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = int(message["status"])  # an HTTPStatus would log as its repr
        await self.send(message)


class RequestIdMiddleware:
    """Outermost: every later layer, log line and error body sees the same request ID.

    A valid incoming `X-Request-ID` is kept, otherwise one is generated; it is echoed on the
    response, bound in contextvars for the request's lifetime and cleared afterwards.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, REQUEST_ID_HEADER)
        if incoming is not None and VALID_REQUEST_ID.match(incoming):
            request_id = incoming.decode()
        else:
            request_id = secrets.token_hex(16)  # as unique as a UUID4, and cheaper to make
        encoded = request_id.encode()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), (REQUEST_ID_HEADER, encoded)]
            await send(message)

        token = request_id_var.set(request_id)
        structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            structlog.contextvars.unbind_contextvars("request_id")
            request_id_var.reset(token)


class AccessLogMiddleware:
    """One line per request with method, route template, status and duration.

    Sits inside RequestIdMiddleware so the line carries the request ID, and outside the error
    middleware so a 500 is logged with its final status. Paths in `quiet_paths` (the health
    probes) are passed straight through and never logged.
    """

    def __init__(self, app: ASGIApp, quiet_paths: Iterable[str] = ()) -> None:
        self.app = app
        self.quiet_paths = frozenset(quiet_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.quiet_paths:
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        recorder = StatusRecorder(send)
        try:
            await self.app(scope, receive, recorder)
        finally:
            access_logger.info(
                "request",
                method=scope["method"],
                route=route_template(scope),
                status=recorder.status,
                duration_ms=round((time.perf_counter() - start) * 1000, 2),
            )


class SecurityHeadersMiddleware:
    """Adds conservative security headers to every response, errors included."""

    HEADERS = (
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"no-referrer"),
        (b"cross-origin-opener-policy", b"same-origin"),
        # Other sites' pages may not embed these responses (an image, a script), only read them
        # through CORS where CORS_ORIGINS allows it.
        (b"cross-origin-resource-policy", b"same-origin"),
        # An API needs no browser feature: a page that frames or opens it gets none either.
        (b"permissions-policy", b"camera=(), geolocation=(), microphone=(), payment=(), usb=()"),
        (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
    )
    # The interactive docs load their own scripts and styles; a strict CSP would blank them.
    DOCS_PATHS = frozenset({"/docs", "/redoc", "/docs/oauth2-redirect"})

    def __init__(self, app: ASGIApp, hsts: bool = False) -> None:
        self.app = app
        self.strict: tuple[tuple[bytes, bytes], ...] = self.HEADERS
        if hsts:
            self.strict = (*self.HEADERS, (b"strict-transport-security", b"max-age=31536000"))
        self.relaxed = tuple(h for h in self.strict if h[0] != b"content-security-policy")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = self.relaxed if scope["path"] in self.DOCS_PATHS else self.strict

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)


class AllowedHostsMiddleware:
    """Answers a request whose Host header names none of `allowed_hosts` with a 400 problem.

    Sits inside the request-ID, access-log and security-header layers, so the refusal carries the
    request ID and headers and is logged, and outside everything else, so nothing is built from a
    host nobody configured. `"*"` allows any host and `"*.example.com"` any of its subdomains.
    `exempt_paths` (the probes and /metrics, which the orchestrator and the scraper address by the
    pod's IP) are passed through: they answer nothing built from the Host.
    """

    def __init__(
        self, app: ASGIApp, allowed_hosts: Iterable[str], exempt_paths: Iterable[str] = ()
    ) -> None:
        self.app = app
        hosts = [host.lower() for host in allowed_hosts]
        self.any_host = "*" in hosts
        self.names = frozenset(host for host in hosts if not host.startswith("*."))
        self.suffixes = tuple(host[1:] for host in hosts if host.startswith("*."))
        self.exempt_paths = frozenset(exempt_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or self.any_host
            or scope["path"] in self.exempt_paths
            or self.is_allowed(_header(scope, b"host"))
        ):
            await self.app(scope, receive, send)
            return
        response = problem_response(
            400,
            "The Host header names no host this service answers for.",
            type_="urn:problem:invalid-host",
            instance=request_path(scope),
        )
        await response(scope, receive, send)

    def is_allowed(self, header: bytes | None) -> bool:
        if header is None:
            return False
        host = header.decode("latin-1").lower()
        # Drop the port: "[::1]:8000" -> "[::1]", "example.com:8000" -> "example.com".
        host = host[: host.find("]") + 1] if host.startswith("[") else host.partition(":")[0]
        return host in self.names or (bool(self.suffixes) and host.endswith(self.suffixes))


class ServerErrorMiddleware:
    """Turns an unhandled exception into a generic 500 problem; the traceback goes to the log only.

    It sits inside the request-ID, access-log and security-header layers, so the 500 carries the
    request ID and headers and is logged with its status, which Starlette's outermost
    ServerErrorMiddleware cannot do. `report`, when given, also receives the exception (an error
    tracker); it is called only for the errors answered here, since one raised after the response
    started goes on to the server and whatever wraps the app.
    """

    def __init__(self, app: ASGIApp, report: Callable[[Exception], None] | None = None) -> None:
        self.app = app
        self.report = report

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_and_track(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_and_track)
        except Exception as exc:
            error_logger.exception("unhandled_error", method=scope["method"], path=scope["path"])
            if started:
                raise  # too late for an error body; let the server close the connection
            if self.report is not None:
                self.report(exc)
            response = problem_response(500, "An unexpected error occurred.")
            await response(scope, receive, send)


class BodySizeLimitMiddleware:
    """Refuses request bodies larger than `max_body_size` with a 413 problem.

    A declared Content-Length is checked before the app runs; a chunked body is counted as it is
    read, so a client cannot stream past the limit either.
    """

    def __init__(self, app: ASGIApp, max_body_size: int) -> None:
        self.app = app
        self.max_body_size = max_body_size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in BODYLESS_METHODS:
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_size:
            await self._too_large(scope, receive, send)
            return

        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_size:
                    # An HTTPException passes FastAPI's body parsing untouched and reaches the
                    # problem handler; any other exception there would become a 400.
                    raise HTTPException(413, self._detail)
            return message

        await self.app(scope, counting_receive, send)

    @property
    def _detail(self) -> str:
        return f"The request body is larger than {self.max_body_size} bytes."

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem_response(413, self._detail, instance=request_path(scope))
        await response(scope, receive, send)


class BodyReadTimeoutMiddleware:
    """Answers 408 and closes the connection when a request body takes longer than `timeout`.

    The clock starts at the first read of the body and covers all of it, so neither a client that
    stalls (a Content-Length it never sends) nor one that trickles a byte at a time holds a
    connection longer. It sits next to the app, like BodySizeLimitMiddleware, so the HTTPException
    raised from `receive` reaches the problem handler. Reads after the body (a wait for the
    client's disconnect) are not timed.
    """

    def __init__(self, app: ASGIApp, timeout: float) -> None:
        self.app = app
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in BODYLESS_METHODS:
            await self.app(scope, receive, send)
            return
        deadline: float | None = None
        body_read = False

        async def timed_receive() -> Message:
            nonlocal deadline, body_read
            if body_read:
                return await receive()
            if deadline is None:
                deadline = asyncio.get_running_loop().time() + self.timeout
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise HTTPException(
                    408,
                    f"The request body did not arrive within {self.timeout:g} seconds.",
                    headers={"Connection": "close"},
                ) from None
            body_read = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        await self.app(scope, timed_receive, send)
