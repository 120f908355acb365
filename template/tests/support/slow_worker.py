"""The deployed worker with one more task, a slow one to stop the worker in the middle of:
`python -m tests.support.slow_worker` runs what `python -m app.commands.worker` runs (taskiq's
worker on `create_worker_broker`, with its arguments), on `create_broker` below."""

import asyncio
import sys
from pathlib import Path

from taskiq import Context, TaskiqDepends
from taskiq.cli.worker.cmd import WorkerCMD
from taskiq_redis import RedisStreamBroker

from app.commands.worker import worker_arguments
from app.core.config import get_settings
from app.core.jobs import JobMessage
from app.core.logging import configure_logging
from app.worker import JobRunner, create_worker_broker, worker_hooks


class Slow(JobMessage, task="test.slow"):
    """Marks each of its runs in the file `trace` (a line as it starts, one as it finishes); its
    first run takes `seconds`, a later one none."""

    trace: str
    seconds: float


def mark(trace: Path, what: str) -> bool:
    """Append a line to the trace; whether it was the first."""
    first = not trace.exists()
    with trace.open("a") as lines:
        lines.write(what + "\n")
    return first


async def slow(message: Slow, context: Context = TaskiqDepends()) -> None:
    trace = Path(message.trace)
    if await asyncio.to_thread(mark, trace, "started"):
        await asyncio.sleep(message.seconds)
    await asyncio.to_thread(mark, trace, "finished")


def marks(trace: Path) -> list[str]:
    return trace.read_text().split() if trace.exists() else []


def create_broker() -> RedisStreamBroker:
    settings = get_settings()
    broker = create_worker_broker(settings)
    runner = JobRunner(settings, worker_hooks(settings))
    broker.register_task(runner.wrap(slow), task_name=Slow.task_name)
    return broker


def main() -> None:
    settings = get_settings()
    configure_logging(settings)
    # The deployed arguments, with this module's broker for app.worker:create_worker_broker.
    _, *arguments = worker_arguments(settings)
    sys.exit(WorkerCMD().exec(["tests.support.slow_worker:create_broker", *arguments]))


if __name__ == "__main__":
    main()
