"""Sentry in the job worker (`SentryJobs`, its hooks): started with the process, and a job that
reaches the dead letter is one event, tagged with its task and id (the request ID of the request
that enqueued it comes with it, as on every event), without its arguments."""

import sentry_sdk
from sentry_sdk.types import Event, Hint

from app.core.config import Settings
from app.core.sentry import init_sentry
from app.core.worker_hooks import WorkerHooks


class SentryJobs(WorkerHooks):
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def starting(self) -> None:
        init_sentry(self.settings)

    def job_buried(self, error: Exception, task_name: str, job_id: str) -> None:
        report_dead_job(error, task_name, job_id)


def report_dead_job(exc: BaseException, task_name: str, job_id: str) -> None:
    with sentry_sdk.new_scope() as scope:
        scope.set_tag("job.task", task_name)
        scope.set_tag("job.id", job_id)
        scope.add_event_processor(_without_local_variables)
        sentry_sdk.capture_exception(exc)


def _without_local_variables(event: Event, hint: Hint) -> Event:
    """A job's arguments are in its frames' local variables: no frame sends any."""
    for exception in event.get("exception", {}).get("values", []):
        for frame in exception.get("stacktrace", {}).get("frames", []):
            frame.pop("vars", None)
    return event
