"""A job in the service's traces: its span continues the trace of the request that enqueued it.
Run by the worker in this process, against the real Redis and a database of the test's own."""

from collections.abc import Callable

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from app.core.config import Settings
from app.core.jobs import job_labels
from app.core.tracing import configure_tracing
from tests.support.jobs import RUNS, Flaky, JobStream, enqueue, eventually, running_worker


@pytest.fixture(scope="module")
def exporter(settings_factory: Callable[..., Settings]) -> InMemorySpanExporter:
    """Every finished span of the process, kept in memory (the provider is one per process)."""
    exporter = InMemorySpanExporter()
    configure_tracing(settings_factory()).add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


async def test_a_job_s_span_continues_the_trace_of_the_request_that_enqueued_it(
    worker_settings: Settings, job_stream: JobStream, exporter: InMemorySpanExporter
) -> None:
    tracer = configure_tracing(worker_settings).get_tracer(__name__)
    with tracer.start_as_current_span("the request") as request_span:
        labels = job_labels()  # what JobQueue.enqueue stores with the job in the outbox
    request = request_span.get_span_context()

    async with running_worker(worker_settings):
        await enqueue(job_stream, Flaky(key="traced", failures=0), "t" * 32, labels)
        await eventually(lambda: RUNS.get("traced") == 1, "the traced job's run")

    [job_span] = [
        span for span in exporter.get_finished_spans() if span.name == "execute/test.flaky"
    ]
    assert job_span.context is not None
    assert job_span.parent is not None
    assert job_span.context.trace_id == request.trace_id
    assert job_span.parent.span_id == request.span_id
