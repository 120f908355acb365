"""The jobs' metrics: the worker counts and times each job by task and outcome and serves its
samples on a port of its own; the relays report the outbox's backlog. Against the real Redis and
a database of the test's own."""

import asyncio
from collections.abc import Callable

import httpx
import pytest
from prometheus_client import REGISTRY

from app.core.config import Settings
from app.core.job_metrics import OUTBOX_BACKLOG, serve_metrics
from app.core.jobs import create_broker
from app.db.database import Database
from app.db.outbox import JobQueue, OutboxRelay
from app.schemas.item_imports import ImportItems
from app.schemas.items import ItemCreate
from tests.support.jobs import Flaky, JobStream, enqueue, eventually, running_worker

UNREACHABLE_REDIS_URL = "redis://127.0.0.1:1/0"


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_the_worker_counts_and_times_its_jobs_by_outcome(
    worker_settings: Settings, job_stream: JobStream
) -> None:
    labels = {outcome: {"task": "test.flaky", "outcome": outcome} for outcome in ("done", "dead")}
    counted = {outcome: sample("jobs_total", **labels[outcome]) for outcome in labels}
    timed = {outcome: sample("job_duration_seconds_count", **labels[outcome]) for outcome in labels}
    retries = sample("resilience_retries_total", operation="job:test.flaky")

    async with running_worker(worker_settings):
        # Done on its second run; dead at its first, a failure that is not transient.
        await enqueue(job_stream, Flaky(key="counted", failures=1), "c" * 32)
        await enqueue(job_stream, Flaky(key="buried", failures=1, transient=False), "d" * 32)
        await eventually(
            lambda: all(sample("jobs_total", **labels[o]) == counted[o] + 1 for o in labels),
            "one job counted as done, one as dead",
        )

    for outcome in labels:
        assert sample("job_duration_seconds_count", **labels[outcome]) == timed[outcome] + 1
    assert sample("resilience_retries_total", operation="job:test.flaky") == retries + 1


async def test_the_worker_serves_its_samples_on_its_own_port() -> None:
    port, stop = serve_metrics(0)
    try:
        async with httpx.AsyncClient() as client:
            response = await client.get(f"http://127.0.0.1:{port}/metrics")
    finally:
        await asyncio.to_thread(stop)

    assert response.status_code == 200
    assert "# TYPE jobs_total counter" in response.text
    assert "# TYPE job_duration_seconds histogram" in response.text
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient() as client:
            await client.get(f"http://127.0.0.1:{port}/metrics")


async def test_the_relay_reports_the_backlog_while_redis_is_down_and_none_once_it_is_sent(
    worker_settings: Settings,
    job_stream: JobStream,
    settings_factory: Callable[..., Settings],
) -> None:
    database = Database(worker_settings)
    down = create_broker(settings_factory(redis_url=UNREACHABLE_REDIS_URL))
    relays = [
        OutboxRelay.to_broker(database, broker, worker_settings, on_backlog=OUTBOX_BACKLOG.set)
        for broker in (down, job_stream.broker)
    ]
    try:
        async with database.session() as session:
            for name in ("first", "second"):
                JobQueue(session).enqueue(ImportItems(owner_id=None, items=[ItemCreate(name=name)]))

        relays[0].start()
        await eventually(lambda: sample("jobs_outbox_backlog") == 2, "a backlog of two")
        await relays[0].stop()

        relays[1].start()
        await eventually(lambda: sample("jobs_outbox_backlog") == 0, "no backlog")
    finally:
        for relay in relays:
            await relay.stop()
        await down.shutdown()
        await database.close()
    assert len(await job_stream.messages()) == 2
