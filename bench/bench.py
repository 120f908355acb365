"""Benchmark of the template: inline Jinja, render time, matrix wall time, fuzz time and speed.

The rendered service is measured twice: `/health/live` against bare FastAPI (the cost of the
service's own layers), and the authenticated endpoints a user copies (`GET /api/v1/users/me`, the
items list and the item create) on a fresh database of the local PostgreSQL, at 64 and 256
connections, plus the login rate. The rate limiter's backends, and metrics and tracing on versus
off (/health/live and the items list), are priced against the same service without them, in the
same run. Each service is served as a production worker is tuned (bench/tuned_uvicorn.py).

Each section is a module of bench/: render_update, matrix_time, fuzz_time, liveness,
authenticated, rate_limit, observability and jinja_figures; serving holds what the loaded ones
share. This file runs them in order. Run it as `nox -s bench [-- options]`, or as
`python bench/bench.py [options]` from the repo root in an environment holding copier and the
rendered service's dependencies. It prints a report and writes bench/results/latest.json. A missed
target is reported, not enforced: the exit code is 1 only when something could not be measured
(a server that never came up).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import tempfile
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

# bench/ runs as a script: its own folder is sys.path[0], so the sections import by their names;
# the repo root is added for tests.rendering, which owns the snapshot, and tests.matrix.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from authenticated import measure_auth, report_auth
from fuzz_time import measure_fuzz, report_fuzz
from jinja_figures import measure_jinja, report_jinja
from jobs import measure_jobs, report_jobs
from liveness import measure_http, report_http
from matrix_time import measure_matrix, report_matrix
from observability import measure_observability, report_observability
from rate_limit import measure_rate_limit, report_rate_limit
from render_update import measure_render, measure_update, report_render, report_update
from serving import RESULTS, ROOT, ServerStartError, SetupError

from tests.rendering import snapshot_template


def environment() -> dict[str, Any]:
    """What the figures depend on: interpreter, cores, load at the start, server packages."""
    packages = (
        *("copier", "fastapi", "starlette", "uvicorn", "pydantic", "structlog"),
        *("sqlalchemy", "asyncpg", "pyjwt", "pwdlib", "argon2-cffi"),
    )
    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average_at_start": [round(load, 2) for load in os.getloadavg()],
        "packages": {name: _version(name) for name in packages},
    }


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


Measure = Callable[[], dict[str, Any]]
Report = Callable[[dict[str, Any] | None], None]


def measure_section(what: str, measure: Measure) -> dict[str, Any]:
    """One section's figures, or its error and the server output that explains it."""
    try:
        return measure()
    except SetupError as error:
        print(f"Could not measure {what}: {error}. Output:\n{error.output}")
        return {"error": str(error), "output": error.output}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python bench/bench.py", description=__doc__)
    parser.add_argument("--matrix", action="store_true", help="also time the full matrix (slow)")
    parser.add_argument(
        "--duration", type=int, default=10, metavar="SECONDS", help="seconds per load run"
    )
    parser.add_argument("--rounds", type=int, default=3, metavar="N", help="load runs per server")
    parser.add_argument("--skip-http", action="store_true", help="skip the throughput comparison")
    parser.add_argument("--skip-fuzz", action="store_true", help="skip the per-variant fuzz run")
    parser.add_argument("--skip-jobs", action="store_true", help="skip the background jobs")
    parser.add_argument(
        "--skip-auth",
        action="store_true",
        help="skip the authenticated endpoints (users/me, the items list and create) and the login",
    )
    parser.add_argument(
        "--skip-rate-limit",
        action="store_true",
        help="skip the rate-limited route (limiter off, memory, redis)",
    )
    parser.add_argument(
        "--skip-observability",
        action="store_true",
        help="skip the metrics and tracing cost (/health/live and the items list, on vs off)",
    )
    parser.add_argument(
        "--auth-candidate",
        action="append",
        default=[],
        metavar="NAME=DIR",
        help="also load the authenticated endpoints on DIR, a changed copy of the rendered "
        "default service or a render of another commit, in the same run (repeatable); "
        "settings-only changes go in DIR/.env",
    )
    args = parser.parse_args(argv)
    if args.duration < 1 or args.rounds < 1:
        parser.error("--duration and --rounds must be at least 1")
    args.candidates = {}
    for assignment in args.auth_candidate:
        name, _, directory = assignment.partition("=")
        path = Path(directory).resolve()
        if not re.fullmatch(r"[\w.-]+", name) or name in ("rendered", "bare"):
            parser.error(f"--auth-candidate {assignment!r}: NAME must be a word, not {name!r}")
        if not (path / "app" / "main.py").is_file():
            parser.error(f"--auth-candidate {assignment!r}: {path} holds no rendered service")
        args.candidates[name] = path
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    RESULTS.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"environment": environment()}
    env = results["environment"]
    print(
        f"Benchmark on Python {env['python']}, {env['cpus']} cores, "
        f"load average {env['load_average_at_start'][0]} at the start\n"
    )
    status = 0
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        work = Path(tmp)
        snapshot = snapshot_template(work / "template")

        results["jinja"] = measure_jinja()
        report_jinja(results["jinja"])

        results["render"] = measure_render(snapshot, work)
        report_render(results["render"])

        results["update"] = measure_update(snapshot, work)
        report_update(results["update"])

        results["matrix"] = measure_matrix() if args.matrix else None
        report_matrix(results["matrix"])

        results["fuzz"] = None if args.skip_fuzz else measure_fuzz(snapshot, work)
        report_fuzz(results["fuzz"])

        results["http"] = None
        if not args.skip_http:
            try:
                results["http"] = measure_http(snapshot, work, args.duration, args.rounds)
            except ServerStartError as error:
                print(f"Could not measure /health/live: {error}. Its output:\n{error.output}")
                results["http"] = {"error": str(error), "output": error.output}
                status = 1
        if status == 0:
            report_http(results["http"])

        sections: list[tuple[str, bool, str, Measure, Report]] = [
            (
                "auth",
                args.skip_auth,
                "the authenticated endpoints",
                lambda: measure_auth(snapshot, work, args.duration, args.rounds, args.candidates),
                report_auth,
            ),
            (
                "rate_limit",
                args.skip_rate_limit,
                "the rate limiter",
                lambda: measure_rate_limit(snapshot, work, args.duration, args.rounds),
                report_rate_limit,
            ),
            (
                "jobs",
                args.skip_jobs,
                "background jobs",
                lambda: measure_jobs(snapshot, work, args.rounds),
                report_jobs,
            ),
            (
                "observability",
                args.skip_observability,
                "the cost of metrics and tracing",
                lambda: measure_observability(snapshot, work, args.duration, args.rounds),
                report_observability,
            ),
        ]
        for key, skip, what, measure, report in sections:
            results[key] = None if skip else measure_section(what, measure)
            if results[key] is None or "error" not in results[key]:
                report(results[key])
            else:
                status = 1

    latest = RESULTS / "latest.json"
    latest.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nResults: {latest.relative_to(ROOT)}")
    return status


if __name__ == "__main__":
    sys.exit(main())
