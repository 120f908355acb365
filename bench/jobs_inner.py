"""The jobs benchmark's measurements, run inside a rendered jobs=taskiq service's environment
(`bench/jobs.py` starts it there; it imports the service's `app`). Not a script to run by hand.

    python jobs_inner.py throughput ours|bare JOBS      # seconds to run JOBS no-op jobs
    python jobs_inner.py worker                          # our worker, noting each job's latency, id
    python jobs_inner.py produce RATE SECONDS            # enqueue through the outbox at RATE/s

Settings come from the environment (DATABASE_URL, REDIS_URL, JOBS_QUEUE); each prints one JSON
line.
"""

import asyncio
import json
import sys
import time
from typing import Any

from app.core.config import get_settings
from app.core.jobs import JobMessage, create_broker, send
from app.db.database import Database
from app.db.outbox import JobQueue, OutboxRelay
from app.worker import JobRunner, create_worker_broker
from redis.asyncio import Redis
from taskiq import Context, TaskiqDepends
from taskiq.api import run_receiver_task
from taskiq_redis import RedisStreamBroker

# taskiq passes each task its context through this default.
CONTEXT = TaskiqDepends()


class Noop(JobMessage, task="bench.noop"):
    sent_at: float = 0.0


async def done(redis: Redis, queue: str, jobs: int) -> bool:
    groups = await redis.xinfo_groups(queue)
    if not groups:
        return False
    [group] = groups
    return bool(group["pending"] == 0 and group["entries-read"] == jobs)


async def throughput(kind: str, jobs: int) -> dict[str, Any]:
    """Preload `jobs` no-op jobs, then time one worker (taskiq's receiver, in this process) until
    every one is acknowledged: ours (the service's broker, JobRunner, its middleware) or a bare
    taskiq-redis stream broker with a bare task, on the same Redis."""
    settings = get_settings()
    queue = settings.jobs_queue
    redis = Redis.from_url(settings.redis_url)
    await redis.delete(queue)
    if kind == "ours":
        broker: RedisStreamBroker = create_worker_broker(settings)

        async def noop(message: Noop, context: Context = CONTEXT) -> None:
            return None

        broker.register_task(JobRunner(settings).wrap(noop), task_name=Noop.task_name)
    else:
        broker = RedisStreamBroker(
            url=settings.redis_url, queue_name=queue, consumer_group_name=queue, consumer_id="0"
        )

        # The same typed argument as ours: taskiq's parsing of it is paid by both.
        async def bare_noop(message: Noop) -> None:
            return None

        broker.register_task(bare_noop, task_name=Noop.task_name)
    sender = RedisStreamBroker(url=settings.redis_url, queue_name=queue)
    for number in range(jobs):
        await send(
            sender,
            task_name=Noop.task_name,
            task_id=f"{number:032x}",
            payload=Noop().model_dump(mode="json"),
            labels={},
        )
    await sender.shutdown()
    broker.is_worker_process = True
    await broker.startup()  # ours opens the database, which the no-op job does not use
    start = time.perf_counter()
    # Both as app.commands.worker runs ours: JOBS_CONCURRENCY jobs at once.
    receiver = asyncio.create_task(
        run_receiver_task(broker, max_async_tasks=settings.jobs_concurrency)
    )
    while not await done(redis, queue, jobs):
        await asyncio.sleep(0.01)
    seconds = time.perf_counter() - start
    receiver.cancel()
    await asyncio.gather(receiver, return_exceptions=True)
    await broker.shutdown()
    await redis.delete(queue)
    await redis.aclose()
    return {"kind": kind, "jobs": jobs, "seconds": seconds, "per_second": jobs / seconds}


async def worker() -> None:
    """Our worker, its no-op task pushing (start time - enqueue time) to a Redis list."""
    settings = get_settings()
    redis = Redis.from_url(settings.redis_url)
    latencies = f"{settings.jobs_queue}:latencies"
    ran = f"{settings.jobs_queue}:ran"  # each job's id, once however many times it ran

    async def noop(message: Noop, context: Context = CONTEXT) -> None:
        await redis.rpush(latencies, time.time() - message.sent_at)
        await redis.sadd(ran, context.message.task_id)

    broker = create_worker_broker(settings)
    broker.register_task(JobRunner(settings).wrap(noop), task_name=Noop.task_name)
    broker.is_worker_process = True
    await broker.startup()
    print(json.dumps({"ready": True}), flush=True)
    await run_receiver_task(broker, max_async_tasks=100)


async def produce(rate: float, seconds: float) -> dict[str, Any]:
    """Enqueue through the outbox as requests do, one job per transaction at `rate` per second,
    with the relay woken by each commit (as in a web worker)."""
    settings = get_settings()
    database = Database(settings)
    await database.open()
    broker = create_broker(settings)
    relay = OutboxRelay.to_broker(database, broker, settings)
    relay.start()
    interval = 1 / rate
    count = 0
    start = time.perf_counter()
    next_at = start
    while time.perf_counter() - start < seconds:
        async with database.session() as session:
            JobQueue(session).enqueue(Noop(sent_at=time.time()))
        count += 1
        next_at += interval
        await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
    await asyncio.sleep(1.0)  # the relay's last sends
    await relay.stop()
    await broker.shutdown()
    await database.close()
    return {"sent": count, "seconds": time.perf_counter() - start}


def main() -> None:
    mode = sys.argv[1]
    if mode == "throughput":
        print(json.dumps(asyncio.run(throughput(sys.argv[2], int(sys.argv[3])))))
    elif mode == "worker":
        asyncio.run(worker())
    elif mode == "produce":
        print(json.dumps(asyncio.run(produce(float(sys.argv[2]), float(sys.argv[3])))))
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
