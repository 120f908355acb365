"""The worker's heartbeat file, as its liveness probe reads it (app/commands/worker_alive.py)."""

import asyncio
import time
from pathlib import Path

from app.core.heartbeat import MISSED_BEATS, Heartbeat, overdue, write_deadline


async def test_a_beating_worker_is_on_time_and_a_stopped_one_is_not_running(
    tmp_path: Path,
) -> None:
    path = tmp_path / "heartbeat"
    heartbeat = Heartbeat(path, interval=1.0)
    heartbeat.start()
    try:
        await asyncio.sleep(0)  # the loop turns once: the first beat
        deadline = float(path.read_text())
        assert overdue(path) is None
        # A beat sets the deadline MISSED_BEATS intervals on (written to the millisecond).
        assert 0 < deadline - time.time() <= MISSED_BEATS * 1.0 + 0.001
    finally:
        await heartbeat.stop()

    reason = overdue(path)
    assert reason is not None
    assert "the worker is not running" in reason


def test_a_passed_deadline_fails_the_probe_with_its_lateness(tmp_path: Path) -> None:
    path = tmp_path / "heartbeat"
    write_deadline(path, time.time() - 30)

    reason = overdue(path)

    assert reason is not None
    assert "the heartbeat is 30 s overdue" in reason


def test_a_file_without_a_deadline_fails_the_probe(tmp_path: Path) -> None:
    path = tmp_path / "heartbeat"
    path.touch()

    reason = overdue(path)

    assert reason is not None
    assert "holds no heartbeat deadline" in reason
