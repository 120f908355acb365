"""The worker's heartbeat file: the liveness probe of a process without HTTP.

While the worker's event loop turns, `Heartbeat` rewrites the file every interval with the Unix
time by which its next beat is overdue (`MISSED_BEATS` intervals on). The probe
(`python -m app.commands.worker_alive`) reads that one number, so it needs neither the settings
nor any library: Kubernetes runs it every 15 seconds in every worker pod, where building the
settings would cost over half a second of CPU each time. Standard library only, for that reason.
"""

import asyncio
import time
from pathlib import Path

# Beats a worker may miss before its probe fails: one slow beat is not a dead event loop.
MISSED_BEATS = 3
DEFAULT_HEARTBEAT_FILE = Path("/tmp/worker-heartbeat")  # noqa: S108 - the pod's own emptyDir


class Heartbeat:
    """Rewrites the file every `interval` seconds while the event loop turns; a loop that a job
    blocks, or a worker that stopped, leaves the deadline in it to pass."""

    def __init__(self, path: Path, interval: float) -> None:
        self.path = path
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._beat(), name="heartbeat")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self.path.unlink(missing_ok=True)

    async def _beat(self) -> None:
        while True:
            write_deadline(self.path, time.time() + MISSED_BEATS * self.interval)
            await asyncio.sleep(self.interval)


def write_deadline(path: Path, deadline: float) -> None:
    """The file replaced whole (a rename), so a probe never reads half a number."""
    staging = path.with_name(f".{path.name}.new")
    staging.write_text(f"{deadline:.3f}\n")
    staging.replace(path)


def overdue(path: Path) -> str | None:
    """Why the worker counts as dead, or None while its heartbeat is on time."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return f"no heartbeat at {path}: the worker is not running"
    try:
        deadline = float(text)
    except ValueError:
        return f"{path} holds no heartbeat deadline: {text[:40]!r}"
    late = time.time() - deadline
    if late > 0:
        return f"the heartbeat is {late:.0f} s overdue: the worker's event loop has stopped turning"
    return None
