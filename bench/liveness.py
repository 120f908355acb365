"""/health/live throughput: the rendered service against bare FastAPI."""

from __future__ import annotations

import os
from contextlib import ExitStack
from dataclasses import asdict
from pathlib import Path
from typing import Any

from copier import run_copy
from serving import (
    CONNECTIONS,
    SERVER_CORE,
    SERVICE_ENV,
    WARMUP_S,
    LoadRun,
    bare_app_dir,
    median_run,
    pinned,
    python_load,
    serve,
    verdict,
    wrk_available,
    wrk_load,
)

RATIO_TARGET = 0.85


def measure_http(snapshot: Path, work: Path, seconds: int, rounds: int) -> dict[str, Any]:
    """Alternate bare FastAPI and the rendered service under the same load, `rounds` times each."""
    service_dir = work / "service"
    run_copy(str(snapshot), service_dir, defaults=True, quiet=True, unsafe=False)
    bare_dir = bare_app_dir(work)

    wrk = wrk_available()
    load = wrk_load(wrk) if wrk else python_load
    generator = f"wrk -t1 -c{CONNECTIONS}" if wrk else f"asyncio fallback, {CONNECTIONS} conns"
    if not wrk:
        print("wrk could not be had: loading with the asyncio fallback (Python, far slower)")

    env = {**os.environ, **SERVICE_ENV}
    runs: dict[str, list[LoadRun]] = {"bare": [], "service": []}
    with ExitStack() as servers:
        urls = {
            "bare": servers.enter_context(serve("bare", bare_dir, env, app="bare_app:app")).url,
            "service": servers.enter_context(serve("service", service_dir, env)).url,
        }
        for url in urls.values():
            load(url, WARMUP_S)
        # Alternating cancels slow drift (thermal, other tenants) between the two.
        for _ in range(rounds):
            for name, url in urls.items():
                runs[name].append(load(url, seconds))

    summary = {name: median_run(name_runs) for name, name_runs in runs.items()}
    ratio = summary["service"]["requests_per_s"] / summary["bare"]["requests_per_s"]
    return {
        "load_generator": generator,
        "pinned": bool(pinned(SERVER_CORE)),
        "seconds_per_run": seconds,
        "rounds": rounds,
        "runs": {name: [asdict(run) for run in name_runs] for name, name_runs in runs.items()},
        **summary,
        "ratio": round(ratio, 3),
        "target_ratio": RATIO_TARGET,
        "pass": ratio >= RATIO_TARGET,
    }


def report_http(http: dict[str, Any] | None) -> None:
    if http is None:
        print("/health/live: skipped (--skip-http)")
        return
    pinning = "server on core 0, load on core 1" if http["pinned"] else "not pinned"
    print(
        f"/health/live, one uvicorn worker each, {http['load_generator']}, "
        f"{http['rounds']} alternating rounds of {http['seconds_per_run']} s ({pinning}), medians:"
    )
    for name, label in (("bare", "bare FastAPI"), ("service", "rendered service")):
        figures = http[name]
        errors = f"   {figures['errors']} errors" if figures["errors"] else ""
        print(
            f"  {label:<17} {figures['requests_per_s']:>9.0f} req/s   "
            f"p50 {figures['p50_ms']:6.2f} ms   p99 {figures['p99_ms']:6.2f} ms{errors}"
        )
    print(
        f"  service / bare    {http['ratio']:>9.3f}         "
        f"target >= {RATIO_TARGET:g}   {verdict(http['pass'])}"
    )
