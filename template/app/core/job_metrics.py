"""The jobs' Prometheus metrics: jobs by task and outcome, their duration, the outbox's backlog.

The worker counts the jobs it ran and serves its own samples on JOBS_METRICS_PORT: a web
worker's /metrics sums the web workers' samples only. Its retries are counted as every retry is,
as `resilience_retries{operation="job:<task>"}` (app/core/resilience.py). The outbox's backlog
is reported by the web workers' relays, through the app's /metrics.
"""

from collections.abc import Callable

from prometheus_client import Counter, Gauge, Histogram, start_http_server

from app.core.metrics import metrics_registry

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


def serve_metrics(port: int) -> Callable[[], None]:
    """Serve this process's samples on `port` (any path) from a thread; returns what stops it."""
    server, thread = start_http_server(port, registry=metrics_registry())

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join()

    return stop
