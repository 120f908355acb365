"""Prometheus metrics: the HTTP metrics middleware, a way to add counters, and the registry.

Under gunicorn every worker writes its samples to PROMETHEUS_MULTIPROC_DIR (gunicorn.conf.py sets
and wipes it), and a scrape answered by any one worker sums them all.
"""

import os
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from app.core.middleware import UNMATCHED_ROUTE, StatusRecorder, route_template

# A command run where gunicorn has not made the directory (in a worker's pod, say) would fail
# at its first sample: made here, before any.
if _directory := os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    Path(_directory).mkdir(parents=True, exist_ok=True)

METRICS_PATH = "/metrics"
# One label for any method outside HTTP's own: a client may send any token there, and each would
# make series of its own (unmatched paths share one label likewise: UNMATCHED_ROUTE).
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

REQUESTS = Counter(
    "http_requests",
    "HTTP requests answered, by method, route template and status.",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "http_request_duration_seconds",
    "Time from the request's arrival to the end of its response, by route template.",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
# One series: a request in flight has no status yet, and no route until the router has run.
IN_FLIGHT = Gauge(
    "http_requests_in_flight",
    "HTTP requests being served right now.",
    multiprocess_mode="livesum",
)
# What app/core/resilience.py reports: retries and breaker state changes.
RETRIES = Counter(
    "resilience_retries",
    "Failed attempts that will be tried again, by operation.",
    ["operation"],
)
RETRIES_EXHAUSTED = Counter(
    "resilience_retries_exhausted",
    "Operations that failed every attempt allowed, by operation.",
    ["operation"],
)
CIRCUIT_TRANSITIONS = Counter(
    "circuit_breaker_transitions",
    "Circuit breaker state changes, by breaker and the state entered.",
    ["breaker", "state"],
)

_counters: dict[str, Counter] = {}


def counter(name: str, documentation: str, labelnames: Sequence[str] = ()) -> Counter:
    """The counter of this name, created on first use: how other modules count their events.

    Asking twice for the same name returns the same counter, so a module may call it at import
    or per instance (a client of another service, say) without registering a duplicate.
    """
    if name not in _counters:
        _counters[name] = Counter(name, documentation, labelnames)
    return _counters[name]


def metrics_registry() -> CollectorRegistry:
    """What /metrics reports: every worker's samples in multiprocess mode, else this process's."""
    if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return registry


def render_metrics() -> bytes:
    return generate_latest(metrics_registry())


def metrics_route(scope: Scope) -> str:
    """The route template, or the path of one of FastAPI's own pages (/openapi.json, /docs).

    Those are plain Starlette routes, which record only their endpoint in the scope, not
    themselves as the API's routes do: the route whose endpoint answered gives the path (a
    template, so never a raw ID either).
    """
    template = route_template(scope)
    endpoint = scope.get("endpoint")
    if template != UNMATCHED_ROUTE or endpoint is None:
        return template
    for route in scope["app"].router.routes:
        if isinstance(route, Route) and route.endpoint is endpoint:
            return route.path
    return template


class MetricsMiddleware:
    """Counts and times every request by method, route template and status.

    Sits just inside RequestIdMiddleware and outside the error middleware, so an unhandled error
    is counted as the 500 it becomes. The route template is read from the scope after the router
    has matched it: never the raw path, whose IDs would make a series per resource. Paths in
    `skip_paths` (the scrape itself) are not counted.
    """

    def __init__(self, app: ASGIApp, skip_paths: Iterable[str] = (METRICS_PATH,)) -> None:
        self.app = app
        self.skip_paths = frozenset(skip_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.skip_paths:
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        recorder = StatusRecorder(send)
        IN_FLIGHT.inc()
        try:
            await self.app(scope, receive, recorder)
        finally:
            IN_FLIGHT.dec()
            method = scope["method"] if scope["method"] in KNOWN_METHODS else "OTHER"
            labels = (method, metrics_route(scope), str(recorder.status))
            REQUESTS.labels(*labels).inc()
            LATENCY.labels(*labels).observe(time.perf_counter() - start)
