"""A worker process stopped in the middle of a job, as Kubernetes stops one. SIGKILL (a lost node,
an out-of-memory kill) leaves the job unacknowledged, and another worker runs it again once it
has been idle for JOBS_REDELIVERY_TIMEOUT; SIGTERM (a rollout, a scale-down) lets the running job
finish, takes no new one, and exits within JOBS_SHUTDOWN_TIMEOUT. The worker is the deployed one
with one more task (tests/support/slow_worker.py), against the real Redis and a database of the
test's own."""

import asyncio
import signal
import time
from pathlib import Path

from app.core.config import Settings
from tests.support.jobs import JobStream, enqueue, eventually
from tests.support.slow_worker import Slow, marks
from tests.support.worker_process import kill, start

SLOW_WORKER = "tests.support.slow_worker"
# Short enough for a test, and a job's one run ends before its redelivery, as the settings require.
TIMINGS = {
    "JOBS_MAX_ATTEMPTS": "1",
    "JOBS_TIME_LIMIT": "2.2",
    "JOBS_REDELIVERY_TIMEOUT": "2.5",
    "JOBS_SHUTDOWN_TIMEOUT": "5",
}
# Seconds of the job stopped by SIGTERM: longer than the second that taskiq's supervising process
# may take to pass SIGTERM on to the worker process.
JOB_SECONDS = 2.0
# Seconds of the job whose worker is killed: it is killed as soon as it starts, so this only has
# to outlast the test's look at its start; its second run takes as long.
KILLED_JOB_SECONDS = 1.0
# What the worker process logs once its last read of the stream has ended: taskiq logs that it
# stops prefetching before it cancels the read still waiting on Redis, which may yet be handed a
# job sent meanwhile (and taskiq runs such a late delivery).
STOPS_TAKING_JOBS = '"jobs_reading_stopped"'


async def test_a_killed_worker_s_job_runs_again_and_a_stopped_one_finishes_its_job(
    worker_settings: Settings, job_stream: JobStream, tmp_path: Path
) -> None:
    queue = worker_settings.jobs_queue
    killed, stopped, late = (tmp_path / name for name in ("killed", "stopped", "late"))

    await enqueue(job_stream, Slow(trace=str(killed), seconds=KILLED_JOB_SECONDS), "k" * 32)
    first = start(SLOW_WORKER, worker_settings, tmp_path / "first.log", tmp_path / "1", **TIMINGS)
    processes = [first]
    log = tmp_path / "second.log"
    try:
        await eventually(lambda: marks(killed) == ["started"], "the first worker starts the job")
        # The second starts while the first holds the job, which it cannot take yet: its
        # start-up overlaps the job's redelivery timeout.
        second = start(SLOW_WORKER, worker_settings, log, tmp_path / "2", **TIMINGS)
        processes.append(second)
        kill(first)
        # Read by the dead worker and never acknowledged: the job waits in the pending list.
        pending = await job_stream.redis.xpending(queue, queue)
        assert pending["pending"] == 1

        await eventually(
            lambda: marks(killed) == ["started", "started", "finished"],
            "the second worker runs the abandoned job " + log.read_text(errors="replace"),
        )

        await enqueue(job_stream, Slow(trace=str(stopped), seconds=JOB_SECONDS), "t" * 32)
        await eventually(lambda: marks(stopped) == ["started"], "the second worker starts a job")
        second.send_signal(signal.SIGTERM)
        stopping = time.monotonic()
        await eventually(
            lambda: STOPS_TAKING_JOBS in log.read_text(errors="replace"), "the worker stopping"
        )
        # It stopped taking jobs while this one runs; a job sent now waits for the next worker.
        assert marks(stopped) == ["started"]
        await enqueue(job_stream, Slow(trace=str(late), seconds=0.0), "l" * 32)
        status = await asyncio.to_thread(second.wait, 15)
        took = time.monotonic() - stopping
    finally:
        for process in processes:
            if process.poll() is None:
                kill(process)

    assert status == 0, log.read_text(errors="replace")
    assert marks(stopped) == ["started", "finished"]
    assert took < float(TIMINGS["JOBS_SHUTDOWN_TIMEOUT"])
    assert marks(late) == []
    assert [message["task_id"] for message in await job_stream.messages()][-1] == "l" * 32
