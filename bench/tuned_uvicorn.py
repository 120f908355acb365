"""Serve a rendered service in one uvicorn worker tuned as its gunicorn worker is in production.

The service's gunicorn.conf.py tunes the collector in each worker once the app is built, before it
serves (`post_worker_init`): what start-up built is frozen out of the collector's walks and the
youngest generation is collected every 50,000 allocations. The app itself no longer does it, so a
bare `uvicorn --factory app.main:create_app` would measure an untuned process. This does the same
at the same point: build the app from its factory, tune, then serve.

    python bench/tuned_uvicorn.py PORT    (run inside the service's directory)
"""

from __future__ import annotations

import gc
import sys
from pathlib import Path

import uvicorn

YOUNGEST_GENERATION_THRESHOLD = 50_000


def main(port: int) -> None:
    # A script's own directory heads sys.path; the service is imported from the working directory,
    # as `python -m uvicorn` would.
    sys.path.insert(0, str(Path.cwd()))
    config = uvicorn.Config(
        "app.main:create_app",
        factory=True,
        host="127.0.0.1",
        port=port,
        workers=1,
        access_log=False,
        log_level="warning",
    )
    config.load()  # imports the service and calls its factory; the server reuses what it built
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNGEST_GENERATION_THRESHOLD)
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main(int(sys.argv[1]))
