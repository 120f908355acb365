"""The process's one outbound HTTP client, and what counts as a failure of the service called.

One `httpx.AsyncClient` per process, made by the lifespan, keeps connections to other services
open between requests and bounds them; services get it from `HttpClientDep`.
"""

import ssl
from functools import cache

import httpx

from app.core.config import Settings


@cache
def tls_context() -> ssl.SSLContext:
    """httpx's default TLS settings, made once per process: loading the CA bundle is the slow
    part of making a client, and a context serves any number of clients and connections."""
    return httpx.create_ssl_context()


def create_http_client(settings: Settings) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        verify=tls_context(),
        timeout=httpx.Timeout(
            settings.http_client_timeout, connect=settings.http_client_connect_timeout
        ),
        limits=httpx.Limits(
            max_connections=settings.http_client_max_connections,
            max_keepalive_connections=settings.http_client_max_keepalive_connections,
        ),
        headers={"User-Agent": f"{settings.project_name}/{settings.version}"},
    )


def is_upstream_failure(exc: Exception) -> bool:
    """The called service is unwell: no answer (refused, timed out, broken), a 5xx or a 429.

    Any other status is an answer, and says the service is up: a 404 is not its failure.
    """
    if isinstance(exc, httpx.HTTPStatusError):
        status = exc.response.status_code
        return (
            status >= httpx.codes.INTERNAL_SERVER_ERROR or status == httpx.codes.TOO_MANY_REQUESTS
        )
    return isinstance(exc, httpx.TransportError)
