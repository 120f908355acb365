"""The worker's liveness probe: `python -m app.commands.worker_alive` exits 0 while the worker's
heartbeat file (JOBS_HEARTBEAT_FILE) is fresher than three heartbeat intervals, else 1 with the
reason. It checks the worker's own event loop, never Redis or the database: an outage of either
would restart every worker and fix nothing."""

import sys
import time

from app.core.config import get_settings

MISSED_BEATS = 3


def main() -> None:
    settings = get_settings()
    try:
        age = time.time() - settings.jobs_heartbeat_file.stat().st_mtime
    except FileNotFoundError:
        sys.exit(f"no heartbeat at {settings.jobs_heartbeat_file}: the worker is not running")
    limit = MISSED_BEATS * settings.jobs_heartbeat_interval
    if age > limit:
        sys.exit(f"the last heartbeat is {age:.0f} s old, more than {limit:.0f} s")


if __name__ == "__main__":
    main()
