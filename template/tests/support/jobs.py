"""The job stream of a test (a broker on a stream of its own on the Redis at TEST_REDIS_URL, read
back entry by entry, and deleted when the test ends), and the worker run in the test's process on
a database of its own, with a test job of its own."""

import asyncio
import gc
import json
import time
import uuid
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from taskiq import AcknowledgeType, Context, TaskiqDepends
from taskiq.api import run_receiver_task
from taskiq.receiver import Receiver

from app.core.config import Settings
from app.core.jobs import JobMessage, RetryLater, StreamBroker, create_broker, send
from app.jobs.state import Tasks
from app.worker import JobRunner, create_worker_broker, worker_hooks
from tests.support.redis_server import REDIS_KEY_PREFIX

# Seconds to wait for what the worker does; far more than it needs.
DEADLINE = 20.0


@dataclass
class JobStream:
    settings: Settings
    broker: StreamBroker
    redis: Redis

    async def messages(self) -> list[dict[str, Any]]:
        """Every job sent to the stream so far, as taskiq's JSON message: task_name, task_id,
        labels, kwargs."""
        entries = await self.redis.xrange(self.settings.jobs_queue) or []
        return [json.loads(fields[b"data"]) for _, fields in entries if fields is not None]


@pytest.fixture
async def job_stream(
    redis_server: str, settings_factory: Callable[..., Settings]
) -> AsyncIterator[JobStream]:
    settings = settings_factory(jobs_queue=f"{REDIS_KEY_PREFIX}-jobs-{uuid.uuid4().hex[:8]}")
    broker = create_broker(settings)
    redis = Redis.from_url(redis_server)
    try:
        yield JobStream(settings, broker, redis)
    finally:
        await redis.delete(settings.jobs_queue)
        await redis.aclose()
        await broker.shutdown()


class Flaky(JobMessage, task="test.flaky"):
    """The test job: it fails its first `failures` runs, transiently or not, and counts its runs
    in RUNS under its key."""

    key: str
    failures: int
    transient: bool = True


RUNS: dict[str, int] = {}


async def flaky(message: Flaky, context: Context = TaskiqDepends()) -> None:
    RUNS[message.key] = RUNS.get(message.key, 0) + 1
    if RUNS[message.key] <= message.failures:
        raise RetryLater("not yet") if message.transient else ValueError("bad input")


class Stuck(JobMessage, task="test.stuck", time_limit=0.05):
    """A test job that never ends by itself: only its time limit stops each run."""

    key: str


async def stuck(message: Stuck, context: Context = TaskiqDepends()) -> None:
    RUNS[message.key] = RUNS.get(message.key, 0) + 1
    await asyncio.sleep(3600)


async def eventually(condition: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"the worker never got there: {what}", pytrace=False)
        await asyncio.sleep(0.05)


async def eventually_async(check: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not await check():
        if time.monotonic() > deadline:
            pytest.fail(f"the worker never got there: {what}", pytrace=False)
        await asyncio.sleep(0.05)


class Slow(JobMessage, task="test.slow", time_limit=5.0):
    """A test job that takes `seconds` to run (its own time limit is longer), counting its runs
    in RUNS under its key."""

    key: str
    seconds: float


async def slow(message: Slow, context: Context = TaskiqDepends()) -> None:
    RUNS[message.key] = RUNS.get(message.key, 0) + 1
    await asyncio.sleep(message.seconds)


@pytest.fixture
async def worker_settings(
    settings_factory: Callable[..., Settings],
    migrated_database_url: str,
    job_stream: JobStream,
    tmp_path: Path,
) -> Settings:
    """A worker's settings: the test's stream, a migrated database of its own, quick retries."""
    return settings_factory(
        database_url=migrated_database_url,
        jobs_queue=job_stream.settings.jobs_queue,
        jobs_max_attempts=3,
        jobs_retry_initial_wait=0.01,
        jobs_retry_max_wait=0.05,
        jobs_time_limit=0.1,
        jobs_redelivery_timeout=0.5,
        jobs_heartbeat_file=tmp_path / "heartbeat",
    )


@asynccontextmanager
async def running_worker(settings: Settings) -> AsyncIterator[None]:
    """The worker's broker, with the test job registered, receiving in this process."""
    broker = create_worker_broker(settings)
    test_tasks: Tasks = {Flaky: flaky, Stuck: stuck, Slow: slow}
    runner = JobRunner(settings, worker_hooks(settings))
    for message, task in test_tasks.items():
        broker.register_task(runner.wrap(task), task_name=message.task_name)
    broker.is_worker_process = True
    await broker.startup()
    # As app.commands.worker runs it: JOBS_CONCURRENCY jobs at once, acknowledged by JobRunner.
    receiver = asyncio.create_task(
        run_receiver_task(
            broker, max_async_tasks=settings.jobs_concurrency, ack_time=AcknowledgeType.MANUAL
        )
    )
    try:
        yield
    finally:
        receiver.cancel()
        stopped, _ = await asyncio.wait({receiver}, timeout=DEADLINE)
        if not stopped:
            pytest.fail(f"taskiq's receiver did not stop within {DEADLINE:g} s", pytrace=False)
        await asyncio.gather(receiver, return_exceptions=True)
        # Stopping the receiver leaves the jobs it started running. A test that saw a job begin
        # may leave before the job has acknowledged itself, and an acknowledgement after the
        # broker's shutdown would open a connection that nobody closes: they finish first.
        await finish_job_runs()
        await broker.shutdown()
        # A read cancelled while it waited on Redis leaves redis-py's stream to the collector,
        # which warns that it was not closed: collected here, where that is known and expected,
        # rather than in whatever test runs next, where the warning would fail it.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            gc.collect()


async def finish_job_runs() -> None:
    """Wait for the job runs taskiq's receiver started to end, cancelling any that outlast the
    deadline."""
    runs = [
        task
        for task in asyncio.all_tasks()
        if getattr(task.get_coro(), "__qualname__", None) == Receiver.callback.__qualname__
    ]
    if not runs:
        return
    _, late = await asyncio.wait(runs, timeout=DEADLINE)
    for task in late:
        task.cancel()
    if late:  # bounded too: a run that will not end must not hang the suite
        await asyncio.wait(late, timeout=1.0)


async def enqueue(
    stream: JobStream, message: JobMessage, task_id: str, labels: dict[str, str] | None = None
) -> str:
    """Send a job straight to the stream, as the relay does."""
    await send(
        stream.broker,
        task_name=message.task_name,
        task_id=task_id,
        payload=message.model_dump(mode="json"),
        labels=labels or {},
    )
    return task_id
