"""Observability cost: metrics and tracing on versus off."""

from __future__ import annotations

import os
from contextlib import ExitStack
from dataclasses import asdict
from pathlib import Path
from typing import Any

from copier import run_copy
from serving import (
    CONNECTIONS,
    LIVE_PATH,
    SERVER_CORE,
    SERVICE_ENV,
    LoadRun,
    Server,
    SetupError,
    alternate,
    cpu_figure,
    median_run,
    migrate,
    pinned,
    run_wrk,
    serve,
    verdict,
    with_server_cpu,
    wrk_available,
)

OBSERVED_PATHS = (LIVE_PATH, "/api/v1/items")
# What each observability answer may cost in req/s against the same service with all three off.
OBSERVABILITY_TARGETS = {"metrics": 0.90, "tracing": 0.75}


def measure_observability(snapshot: Path, work: Path, seconds: int, rounds: int) -> dict[str, Any]:
    """/health/live and the items list on renders that differ only in `metrics` and `tracing`.

    SQLite, no auth and no limiter, so the figure prices the observability layer alone. Tracing
    runs with OTEL_TRACES_EXPORTER=none: spans are made and ended, and exported nowhere. One
    uvicorn worker each on core 0, wrk on core 1, alternating every round.
    """
    wrk = wrk_available()
    if wrk is None:
        raise SetupError("wrk is needed to price metrics and tracing", "")
    flavours = {"off": {}, "metrics": {"metrics": True}, "tracing": {"tracing": True}}
    runs: dict[str, list[LoadRun]] = {
        f"{flavour} {path}": [] for flavour in flavours for path in OBSERVED_PATHS
    }
    with ExitStack() as servers:
        running: dict[str, Server] = {}
        for flavour, extra in flavours.items():
            service_dir = work / f"observability-{flavour}"
            answers = {"database": "sqlite", "auth": "none", "rate_limit_backend": "none", **extra}
            run_copy(str(snapshot), service_dir, data=answers, defaults=True, quiet=True)
            env = {
                **os.environ,
                **SERVICE_ENV,
                "DATABASE_URL": f"sqlite+aiosqlite:///{service_dir / 'bench.db'}",
                "OTEL_TRACES_EXPORTER": "none",
            }
            migrate(service_dir, env)
            running[flavour] = servers.enter_context(
                serve(f"observability-{flavour}", service_dir, env)
            )

        def load(name: str, duration: int) -> LoadRun:
            flavour, _, path = name.partition(" ")
            server = running[flavour]
            url = server.base + path
            return with_server_cpu(server, lambda: run_wrk(wrk, url, duration, CONNECTIONS))

        alternate(load, runs, rounds, seconds)

    summary = {name: median_run(name_runs) for name, name_runs in runs.items()}
    ratios = {
        f"{flavour} {path}": round(
            summary[f"{flavour} {path}"]["requests_per_s"]
            / summary[f"off {path}"]["requests_per_s"],
            3,
        )
        for flavour in OBSERVABILITY_TARGETS
        for path in OBSERVED_PATHS
    }
    return {
        "load_generator": f"wrk -t1 -c{CONNECTIONS}",
        "pinned": bool(pinned(SERVER_CORE)),
        "seconds_per_run": seconds,
        "rounds": rounds,
        "runs": {name: [asdict(run) for run in name_runs] for name, name_runs in runs.items()},
        "summary": summary,
        "ratios": ratios,
        "targets": OBSERVABILITY_TARGETS,
        "pass": all(
            ratios[name] >= OBSERVABILITY_TARGETS[name.partition(" ")[0]] for name in ratios
        ),
    }


def report_observability(observability: dict[str, Any] | None) -> None:
    if observability is None:
        print("Observability cost: skipped (--skip-observability)")
        return
    pinning = "server on core 0, load on core 1" if observability["pinned"] else "not pinned"
    print(
        f"Metrics and tracing on vs off (SQLite, one uvicorn worker each, "
        f"{observability['load_generator']}, {observability['rounds']} alternating rounds of "
        f"{observability['seconds_per_run']} s, {pinning}), medians:"
    )
    for name, figures in observability["summary"].items():
        print(
            f"  {name:<24} {figures['requests_per_s']:>9.0f} req/s   "
            f"p50 {figures['p50_ms']:6.2f} ms   p99 {figures['p99_ms']:6.2f} ms   "
            f"{cpu_figure(figures['server_cpu_ms'])}"
        )
    for name, ratio in observability["ratios"].items():
        target = observability["targets"][name.partition(" ")[0]]
        print(f"  {name} / off {ratio:>9.3f}   target >= {target:g}   {verdict(ratio >= target)}")
