"""How the worker runs jobs, in process against the real Redis and a database of the test's own:
transient failures retried with backoff, runs cut short by their time limit, the dead letter and
its replay, an abandoned job taken over by another worker, a job delivered twice applied once,
a worker that holds no more jobs than it can run and runs none twice at once, a payload that does
not fit its message, a job whose delivery a broken connection lost, and a worker's reads that
stop when told to."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import pytest
from redis.asyncio import Redis
from sqlalchemy import func, select, text

from app.commands.dead_jobs import dead_jobs, replay
from app.core.config import Settings
from app.core.jobs import create_broker, send
from app.db.database import Database
from app.db.models.item import Item
from app.schemas.item_imports import ImportItems
from app.schemas.items import ItemCreate
from tests.support.jobs import (
    DEADLINE,
    RUNS,
    Flaky,
    JobStream,
    Slow,
    Stuck,
    enqueue,
    eventually,
    eventually_async,
    running_worker,
)
from tests.support.redis_server import TEST_REDIS_URL
from tests.support.tcp_proxy import CuttableProxy


async def test_a_transient_failure_is_retried_until_the_job_succeeds(
    worker_settings: Settings, job_stream: JobStream
) -> None:
    async with running_worker(worker_settings):
        await enqueue(job_stream, Flaky(key="retried", failures=2), "retried" + "0" * 25)
        await eventually(lambda: RUNS.get("retried") == 3, "three runs")

    assert await dead_jobs(worker_settings) == []


async def test_a_job_failing_every_time_ends_in_the_dead_letter_and_replays(
    worker_settings: Settings, job_stream: JobStream
) -> None:
    async with running_worker(worker_settings):
        task_id = await enqueue(job_stream, Flaky(key="hopeless", failures=3), "h" * 32)

        async def buried() -> bool:
            return bool(await dead_jobs(worker_settings))

        await eventually_async(buried, "a dead job")
        [dead] = await dead_jobs(worker_settings)
        assert (dead.task_id, dead.task_name, dead.attempts) == (task_id, "test.flaky", 3)
        assert dead.error == "RetryLater: not yet"
        assert dead.payload == {"key": "hopeless", "failures": 3, "transient": True}
        assert RUNS["hopeless"] == 3

        # Its fourth run succeeds: replaying it sends it again and empties the dead letter.
        assert await replay(worker_settings, [task_id]) == (1, True)
        await eventually(lambda: RUNS["hopeless"] == 4, "the replayed run")
    assert await dead_jobs(worker_settings) == []


async def test_a_failure_that_is_not_transient_is_not_retried(
    worker_settings: Settings, job_stream: JobStream
) -> None:
    async with running_worker(worker_settings):
        await enqueue(job_stream, Flaky(key="broken", failures=1, transient=False), "b" * 32)

        async def buried() -> bool:
            return bool(await dead_jobs(worker_settings))

        await eventually_async(buried, "a dead job")
    [dead] = await dead_jobs(worker_settings)
    assert (dead.attempts, dead.error) == (1, "ValueError: bad input")
    assert RUNS["broken"] == 1


async def test_a_run_past_its_time_limit_is_cut_short_retried_then_buried(
    worker_settings: Settings, job_stream: JobStream
) -> None:
    async with running_worker(worker_settings):
        await enqueue(job_stream, Stuck(key="stuck"), "s" * 32)

        async def buried() -> bool:
            return bool(await dead_jobs(worker_settings))

        await eventually_async(buried, "a dead job")
    [dead] = await dead_jobs(worker_settings)
    assert (dead.attempts, RUNS["stuck"]) == (3, 3)
    assert dead.error == "JobTimeoutError: the run took longer than its time limit of 0.05 s"


async def test_a_job_its_worker_abandoned_is_taken_over(
    worker_settings: Settings, job_stream: JobStream
) -> None:
    # A worker that read the job and died (SIGKILL, a lost node) leaves it pending, unacknowledged.
    redis: Redis = job_stream.redis
    await redis.xgroup_create(
        worker_settings.jobs_queue, worker_settings.jobs_queue, id="0", mkstream=True
    )
    await enqueue(job_stream, Flaky(key="abandoned", failures=0), "a" * 32)
    await redis.xreadgroup(
        worker_settings.jobs_queue, "dead-worker", {worker_settings.jobs_queue: ">"}
    )
    pending = await redis.xpending(worker_settings.jobs_queue, worker_settings.jobs_queue)
    assert (pending["pending"], pending["consumers"][0]["name"]) == (1, b"dead-worker")
    RUNS.pop("abandoned", None)

    # A live worker takes it over once it has been idle for JOBS_REDELIVERY_TIMEOUT, with no
    # new job arriving to wake it.
    await asyncio.sleep(worker_settings.jobs_redelivery_timeout)
    async with running_worker(worker_settings):
        await eventually(lambda: RUNS.get("abandoned") == 1, "the abandoned job's run")
    pending = await redis.xpending(worker_settings.jobs_queue, worker_settings.jobs_queue)
    assert pending["pending"] == 0


async def test_a_job_delivered_twice_is_applied_once(
    worker_settings: Settings, job_stream: JobStream
) -> None:
    job = ImportItems(owner_id=None, items=[ItemCreate(name="once")])
    # Room for each run: on SQLite the second delivery waits for the first one's write lock, and
    # on a loaded machine that wait outlasted the 0.1 s limit the other tests run with.
    worker_settings = worker_settings.model_copy(
        update={"jobs_time_limit": 2.0, "jobs_redelivery_timeout": 10.0}
    )
    database = Database(worker_settings)

    async def items() -> int:
        async with database.session(read_only=True) as session:
            return (await session.execute(select(func.count()).select_from(Item))).scalar_one()

    try:
        async with running_worker(worker_settings):
            # The same job twice: as after a worker that committed and died before acknowledging.
            await enqueue(job_stream, job, "d" * 32)
            await enqueue(job_stream, job, "d" * 32)
            await eventually_async(lambda: all_done(job_stream), "both deliveries acknowledged")
        assert await items() == 1
    finally:
        await database.close()


async def test_a_worker_holds_no_more_jobs_than_it_runs(
    worker_settings: Settings, job_stream: JobStream
) -> None:
    # A job read is handed to its worker, and its redelivery timeout runs from then: jobs read
    # ahead would wait behind the running ones, and be handed to another worker meanwhile.
    settings = worker_settings.model_copy(update={"jobs_concurrency": 2})
    keys = [f"held-{n}" for n in range(5)]
    for n, key in enumerate(keys):
        RUNS.pop(key, None)
        await enqueue(job_stream, Slow(key=key, seconds=0.2), f"{n:032d}")
    held: list[int] = []

    async def sample_pending() -> bool:
        summary = await job_stream.redis.xpending(settings.jobs_queue, settings.jobs_queue)
        held.append(summary["pending"])
        return all(RUNS.get(key) == 1 for key in keys) and summary["pending"] == 0

    async with running_worker(settings):
        await eventually_async(sample_pending, "every job run once and acknowledged")
    assert max(held) == 2


async def test_a_job_its_worker_still_runs_is_not_taken_again_by_that_worker(
    worker_settings: Settings, job_stream: JobStream
) -> None:
    # A run that outlasts the redelivery timeout (here by its own time limit; in production a
    # stalled event loop): the worker keeps reading meanwhile, and finds the job idle past it.
    RUNS.pop("long", None)
    seconds = worker_settings.jobs_redelivery_timeout * 2
    async with running_worker(worker_settings):
        await enqueue(job_stream, Slow(key="long", seconds=seconds), "l" * 32)
        await eventually_async(lambda: all_done(job_stream), "the job acknowledged")
    assert RUNS["long"] == 1


async def test_a_job_whose_dead_letter_could_not_be_written_runs_again(
    worker_settings: Settings, job_stream: JobStream
) -> None:
    database = Database(worker_settings)
    try:
        async with database.session() as session:
            await session.execute(text("DROP TABLE dead_jobs"))
    finally:
        await database.close()
    RUNS.pop("unburied", None)
    async with running_worker(worker_settings):
        await enqueue(job_stream, Flaky(key="unburied", failures=9, transient=False), "u" * 32)
        # Left unacknowledged, it is taken again once idle past the redelivery timeout; by the
        # same worker, the only one.
        await eventually(lambda: RUNS.get("unburied", 0) >= 2, "the job run again")


async def test_a_payload_that_does_not_fit_its_message_goes_to_the_dead_letter_unrun(
    worker_settings: Settings, job_stream: JobStream
) -> None:
    runs_before = dict(RUNS)
    payload = {"name": "sent before the message had a key"}
    async with running_worker(worker_settings):
        await send(
            job_stream.broker, task_name="test.flaky", task_id="p" * 32, payload=payload, labels={}
        )

        async def buried() -> bool:
            return bool(await dead_jobs(worker_settings))

        await eventually_async(buried, "a dead job")
        await eventually_async(lambda: all_done(job_stream), "the job acknowledged")
    [dead] = await dead_jobs(worker_settings)
    assert (dead.attempts, dead.payload) == (0, payload)
    assert dead.error == "UnreadableJobError: the payload does not fit the message of test.flaky"
    assert dict(RUNS) == runs_before  # no run


@asynccontextmanager
async def proxied(settings: Settings) -> AsyncIterator[tuple[CuttableProxy, Settings]]:
    """A proxy between the worker and the real Redis that the test can cut, and the worker's
    settings that reach Redis through it; cut for good when the block ends."""
    redis_url = urlsplit(TEST_REDIS_URL)
    proxy = CuttableProxy(redis_url.hostname or "127.0.0.1", redis_url.port or 6379)
    await proxy.start()
    through_proxy = redis_url._replace(netloc=f"127.0.0.1:{proxy.port}").geturl()
    try:
        yield proxy, settings.model_copy(update={"redis_url": through_proxy})
    finally:
        await proxy.cut()


async def all_done(stream: JobStream) -> bool:
    """Every job on the stream has been read by the workers and acknowledged."""
    queue = stream.settings.jobs_queue
    [group] = await stream.redis.xinfo_groups(queue)
    [(last_id, _)] = await stream.redis.xrevrange(queue, count=1) or [(None, None)]
    return bool(group["pending"] == 0 and group["last-delivered-id"] == last_id)


async def test_a_worker_waits_out_a_redis_outage_and_then_runs_the_jobs_sent_meanwhile(
    worker_settings: Settings, job_stream: JobStream
) -> None:
    # The worker reaches Redis through a proxy the test cuts: its connections reset, new ones
    # refused. The jobs are sent to Redis directly, as the relay of a web worker would.
    async with proxied(worker_settings) as (proxy, settings), running_worker(settings):
        await enqueue(job_stream, Flaky(key="before-outage", failures=0), "e" * 32)
        await eventually(lambda: RUNS.get("before-outage") == 1, "the job before the outage")

        await proxy.cut()
        await enqueue(job_stream, Flaky(key="during-outage", failures=0), "f" * 32)
        await asyncio.sleep(0.5)  # the worker's reads fail meanwhile, and are tried again
        assert "during-outage" not in RUNS
        await proxy.start()
        await eventually(lambda: RUNS.get("during-outage") == 1, "the job sent meanwhile")


async def test_jobs_whose_delivery_a_broken_connection_lost_run_without_waiting_for_redelivery(
    worker_settings: Settings, job_stream: JobStream
) -> None:
    # Redis hands a job to the worker's read and the reply is lost with the connection: the job
    # is pending under the worker's name. The worker reads its own pending jobs after the failed
    # read, long before the redelivery timeout (two minutes here) would hand the job out again.
    queue = worker_settings.jobs_queue
    slow_redelivery = worker_settings.model_copy(update={"jobs_redelivery_timeout": 120.0})

    async def pending_is(count: int) -> bool:
        return bool((await job_stream.redis.xpending(queue, queue))["pending"] == count)

    async with proxied(slow_redelivery) as (proxy, settings):
        # The reply lost is the one to the worker's first blocking read of new jobs, sent before
        # the job is: the job is handed to that read, whatever else the worker does meanwhile.
        proxy.lose_replies_to(b"XREADGROUP", b"\r\n>\r\n")
        async with running_worker(settings):
            await asyncio.wait_for(proxy.request_lost.wait(), DEADLINE)
            await enqueue(job_stream, Flaky(key="reply-lost", failures=0), "h" * 32)
            await eventually_async(lambda: pending_is(1), "the job handed to the worker")
            assert "reply-lost" not in RUNS
            await proxy.cut()
            await proxy.start()
            await eventually(lambda: RUNS.get("reply-lost") == 1, "the job whose reply was lost")
            await eventually_async(lambda: pending_is(0), "the job acknowledged")


async def test_the_worker_s_reads_stop_when_cancelled_even_if_the_cancellation_was_lost(
    job_stream: JobStream, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Python 3.11's asyncio.wait_for, around every command redis-py sends, can lose a cancellation
    # that arrives as the send completes: the command then goes on as if nothing had happened.
    # Here the first read loses it in the same way; the reads on the real Redis must stop anyway.
    real_read = Redis.xreadgroup
    waiting = asyncio.Event()
    lost: list[bool] = []

    async def read_losing_a_cancellation(self: Redis, *args: Any, **kwargs: Any) -> Any:
        if not lost:
            waiting.set()
            try:
                await asyncio.sleep(DEADLINE)
            except asyncio.CancelledError:
                lost.append(True)
        return await real_read(self, *args, **kwargs)

    monkeypatch.setattr(Redis, "xreadgroup", read_losing_a_cancellation)
    # A worker's broker, whose reads block for a short while (an eighth of a second): the read
    # that lost the cancellation ends, and the loop must stop instead of reading again.
    quick = job_stream.settings.model_copy(update={"jobs_redelivery_timeout": 0.5})
    broker = create_broker(quick)
    messages = broker.listen()
    reading = asyncio.create_task(anext(messages))
    try:
        await asyncio.wait_for(waiting.wait(), DEADLINE)
        reading.cancel()
        done, _ = await asyncio.wait({reading}, timeout=DEADLINE)
        assert done, "the reads went on after the worker was told to stop"
        assert lost == [True]
        assert reading.cancelled()
    finally:
        if not reading.done():  # a second cancellation is not lost: the test ends either way
            reading.cancel()
            await asyncio.wait({reading}, timeout=DEADLINE)
        await messages.aclose()
        await broker.shutdown()
