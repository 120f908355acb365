"""The worker's liveness probe: `python -m app.commands.worker_alive` exits 0 while the worker's
heartbeat file (JOBS_HEARTBEAT_FILE) says it beat within three heartbeat intervals, else 1 with
the reason. It checks the worker's own event loop, never Redis or the database: an outage of
either would restart every worker and fix nothing.

It reads JOBS_HEARTBEAT_FILE from the environment alone, not through the settings (nor `.env`):
it runs every few seconds in every worker pod, and the file holds all else it needs
(app/core/heartbeat.py).
"""

import os
import sys
from pathlib import Path

from app.core.heartbeat import DEFAULT_HEARTBEAT_FILE, overdue


def main() -> None:
    reason = overdue(Path(os.environ.get("JOBS_HEARTBEAT_FILE") or DEFAULT_HEARTBEAT_FILE))
    if reason is not None:
        sys.exit(reason)


if __name__ == "__main__":
    main()
