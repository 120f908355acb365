"""The jobs' Prometheus metrics: jobs by task and outcome, their duration, the outbox's backlog.

The worker counts the jobs it ran and serves its own samples on JOBS_METRICS_PORT (`JobMetrics`,
its hooks): a web worker's /metrics sums the web workers' samples only. Its retries are counted
as every retry is, as `resilience_retries{operation="job:<task>"}` (app/core/resilience.py). The
outbox's backlog is reported by the web workers' relays, through the app's /metrics.
"""

import asyncio
from collections.abc import Callable, Sequence
from typing import NamedTuple

from httpx import AsyncClient
from prometheus_client import Counter, Gauge, Histogram, start_http_server
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.config import Settings
from app.core.metrics import metrics_registry
from app.core.worker_hooks import WorkerHooks

JOBS = Counter(
    "jobs",
    "Jobs that ran to their end, by task and outcome: done, or dead (kept in the dead letter).",
    ["task", "outcome"],
)
JOB_DURATION = Histogram(
    "job_duration_seconds",
    "Time from a job's first run to its end, retries and their waits included, by task.",
    ["task", "outcome"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0),
)
OUTBOX_BACKLOG = Gauge(
    "jobs_outbox_backlog",
    "Jobs committed and not yet sent to Redis, as a relay last counted them.",
    multiprocess_mode="livemax",
)


def record_job(task: str, outcome: str, seconds: float) -> None:
    JOBS.labels(task, outcome).inc()
    JOB_DURATION.labels(task, outcome).observe(seconds)


class MetricsServer(NamedTuple):
    port: int
    stop: Callable[[], None]


def serve_metrics(port: int) -> MetricsServer:
    """Serve this process's samples on `port` (any path; 0: one the system picks) from a thread;
    returns the port it listens on and what stops it."""
    server, thread = start_http_server(port, registry=metrics_registry())

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join()

    return MetricsServer(server.server_address[1], stop)


class JobMetrics(WorkerHooks):
    """The worker's jobs counted and timed, and its samples served while it runs."""

    def __init__(self, settings: Settings) -> None:
        self.port = settings.jobs_metrics_port
        self._stop: Callable[[], None] | None = None

    async def started(self, engines: Sequence[AsyncEngine], http_client: AsyncClient) -> None:
        if self.port:
            self._stop = serve_metrics(self.port).stop

    async def stopping(self) -> None:
        stop, self._stop = self._stop, None
        if stop is not None:
            await asyncio.to_thread(stop)

    def job_ended(self, task_name: str, outcome: str, seconds: float) -> None:
        record_job(task_name, outcome, seconds)
