"""A job in Sentry: one that reaches the dead letter is one event, tagged with its task, its id
and its request's ID, without its arguments. Run by the worker in this process."""

import json

import sentry_sdk

from app.core.config import Settings
from app.core.sentry import sentry_options
from tests.support.jobs import Flaky, JobStream, enqueue, eventually, running_worker
from tests.support.sentry import CapturingTransport


async def test_a_dead_job_is_one_sentry_event_without_its_arguments(
    worker_settings: Settings, job_stream: JobStream
) -> None:
    transport = CapturingTransport()
    options = sentry_options(
        worker_settings.model_copy(update={"sentry_dsn": "https://key@o0.ingest.sentry.io/0"})
    )
    sentry_sdk.init(**options, transport=transport)
    secret = "an-argument-that-must-stay-home"
    try:
        async with running_worker(worker_settings):
            await enqueue(
                job_stream,
                Flaky(key=secret, failures=1, transient=False),
                "s" * 32,
                {"request_id": "enqueuing-request"},
            )
            await eventually(lambda: transport.events, "a Sentry event")
    finally:
        sentry_sdk.get_client().close()
        sentry_sdk.init()  # back to a client that sends nothing

    [event] = transport.events
    assert event["tags"]["job.task"] == "test.flaky"
    assert event["tags"]["job.id"] == "s" * 32
    assert event["tags"]["request_id"] == "enqueuing-request"
    assert event["exception"]["values"][-1]["type"] == "ValueError"
    assert secret not in json.dumps(event, default=str)
