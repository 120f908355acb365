"""A rate-limited route: the limiter's backends priced against no limiter."""

from __future__ import annotations

import os
import secrets
import urllib.error
import urllib.request
from contextlib import ExitStack
from dataclasses import asdict
from pathlib import Path
from typing import Any

from copier import run_copy
from serving import (
    CONNECTIONS,
    SERVER_CORE,
    SERVICE_ENV,
    LoadRun,
    Server,
    SetupError,
    alternate,
    cpu_figure,
    median_run,
    pinned,
    run_wrk,
    serve,
    verdict,
    with_server_cpu,
    wrk_available,
)

LIMITED_PATH = "/api/v1/info"
RATE_LIMIT_TARGETS = {"memory": 0.8, "redis": 0.6}
BENCH_REDIS_URL = "redis://127.0.0.1:6379/0"


def measure_rate_limit(snapshot: Path, work: Path, seconds: int, rounds: int) -> dict[str, Any]:
    """GET /api/v1/info on three renders that differ only in rate_limit_backend, in one run.

    The limit is set far above what the load can reach, so every request is counted and none is
    refused: the ratio prices counting, not refusing. Each is one uvicorn worker on core 0,
    loaded by wrk on core 1 (Redis shares the machine, unpinned), alternating every round.
    """
    wrk = wrk_available()
    if wrk is None:
        raise SetupError("wrk is needed to compare the rate limiter's backends", "")
    env = {
        **os.environ,
        **SERVICE_ENV,
        "RATE_LIMIT_DEFAULT": "1000000000/day",
        "REDIS_URL": BENCH_REDIS_URL,
        "RATE_LIMIT_KEY_PREFIX": f"bench-{secrets.token_hex(6)}",
    }
    backends = ("none", "memory", "redis")
    runs: dict[str, list[LoadRun]] = {backend: [] for backend in backends}
    with ExitStack() as servers:
        running: dict[str, Server] = {}
        for backend in backends:
            service_dir = work / f"rate-limit-{backend}"
            answers = {"database": "none", "auth": "none", "rate_limit_backend": backend}
            run_copy(str(snapshot), service_dir, data=answers, defaults=True, quiet=True)
            running[backend] = servers.enter_context(
                serve(f"rate-limit-{backend}", service_dir, env)
            )
            _check_limited(backend, running[backend].base + LIMITED_PATH)

        def load(backend: str, duration: int) -> LoadRun:
            server = running[backend]
            url = server.base + LIMITED_PATH
            return with_server_cpu(server, lambda: run_wrk(wrk, url, duration, CONNECTIONS))

        alternate(load, runs, rounds, seconds)

    summary = {backend: median_run(backend_runs) for backend, backend_runs in runs.items()}
    off = summary["none"]["requests_per_s"]
    ratios = {
        backend: round(summary[backend]["requests_per_s"] / off, 3)
        for backend in RATE_LIMIT_TARGETS
    }
    return {
        "path": LIMITED_PATH,
        "load_generator": f"wrk -t1 -c{CONNECTIONS}",
        "pinned": bool(pinned(SERVER_CORE)),
        "seconds_per_run": seconds,
        "rounds": rounds,
        "runs": {name: [asdict(run) for run in name_runs] for name, name_runs in runs.items()},
        **summary,
        "ratios": ratios,
        "targets": RATE_LIMIT_TARGETS,
        "pass": all(ratios[name] >= target for name, target in RATE_LIMIT_TARGETS.items()),
    }


def _check_limited(backend: str, url: str) -> None:
    """The limiter really counts (a Redis that fails open would make the figure meaningless)."""
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
        counted = response.headers.get("RateLimit-Limit") is not None
    if counted != (backend != "none"):
        raise SetupError(
            f"{url} with rate_limit_backend={backend} "
            f"{'sends' if counted else 'does not send'} RateLimit headers",
            "is Redis running at " + BENCH_REDIS_URL + "?" if backend == "redis" else "",
        )


def report_rate_limit(rate_limit: dict[str, Any] | None) -> None:
    if rate_limit is None:
        print(f"GET {LIMITED_PATH} rate-limited: skipped (--skip-rate-limit)")
        return
    pinning = "server on core 0, load on core 1" if rate_limit["pinned"] else "not pinned"
    print(
        f"GET {rate_limit['path']} under the default limit, one uvicorn worker each, "
        f"{rate_limit['load_generator']}, {rate_limit['rounds']} alternating rounds of "
        f"{rate_limit['seconds_per_run']} s ({pinning}), medians:"
    )
    for backend in ("none", "memory", "redis"):
        figures = rate_limit[backend]
        bad = f"   {figures['non_2xx']} non-2xx" if figures["non_2xx"] else ""
        print(
            f"  limiter {backend:<8} {figures['requests_per_s']:>9.0f} req/s   "
            f"p50 {figures['p50_ms']:6.2f} ms   p99 {figures['p99_ms']:6.2f} ms   "
            f"{cpu_figure(figures['server_cpu_ms'])}{bad}"
        )
    for backend, target in rate_limit["targets"].items():
        ratio = rate_limit["ratios"][backend]
        print(
            f"  {backend} / none {ratio:>13.3f}         target >= {target:g}   "
            f"{verdict(ratio >= target)}"
        )
