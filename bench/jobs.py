"""Background jobs (jobs=taskiq): one worker's throughput against a bare taskiq worker, and the
time from a committed enqueue to the job's start.

Both on the rendered default service with `jobs=taskiq` (PostgreSQL, a fresh migrated database
on the local server, the local Redis), its code run by the bench's interpreter
(`bench/jobs_inner.py` does the measuring inside the service's import path):

- **Throughput**: N no-op jobs are put on a stream of their own, then one worker runs them all,
  in one process pinned to core 0, timed until the last is acknowledged. Ours is the service's
  worker (its broker, which also claims abandoned jobs on each read, `JobRunner` with its retry
  policy and acknowledgement, the logging middleware); bare is taskiq-redis's stream broker with a
  bare task taking the same typed argument. Alternating rounds, medians.
- **Enqueue to start**: our worker in its own process on core 1; a producer on core 0 enqueues
  one no-op job per transaction through the outbox, at a steady rate, its relay woken by each
  commit, as a web worker's is. Each job records when it started against when its transaction
  committed; p50 and p99 over every job.
- **The route's cost of enqueueing**: the service's app with two plain routes (`bench/jobs_app.py`),
  the same insert without and with a job enqueued in its transaction, one uvicorn worker pinned to
  core 0, wrk at 64 connections and our worker on core 1, alternating rounds; req/s and the
  server's CPU per request of each, and every job sent run.
- **Redis down, then back**: the same enqueueing route, the app and the worker reaching Redis
  through the rendered service's cuttable proxy (`tests/support/tcp_proxy.py`, in a thread of
  this process): a run with Redis up, one with it cut (connections reset, new ones refused), one
  after it is back; req/s and errors of each, then the jobs committed (items inserted, one job
  each), delivered and run once Redis is back, and the ones lost.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import secrets
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

from authenticated import bench_database
from copier import run_copy
from serving import (
    CONNECTIONS,
    ROOT,
    LoadRun,
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

INNER = ROOT / "bench" / "jobs_inner.py"
JOBS = 5000
RATE = 100
SECONDS = 10
THROUGHPUT_TARGET = 0.8
P99_TARGET_MS = 200.0
ROUTE_TARGET = 0.8
ROUTE_SECONDS = 10
OUTAGE_SECONDS = 10
DRAIN_TIMEOUT_S = 60
REDIS_PORT = 6379
REDIS_URL = f"redis://127.0.0.1:{REDIS_PORT}/0"
ROUTES = {"write": "/bench/write", "write+enqueue": "/bench/write-and-enqueue"}
POST_SCRIPT = 'wrk.method = "POST"\n'


def inner(service_dir: Path, env: dict[str, str], core: int, *args: str) -> dict[str, Any]:
    command = [*pinned(core), sys.executable, str(INNER), *args]
    result = subprocess.run(
        command, cwd=service_dir, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    if result.returncode != 0:
        raise SetupError(f"bench/jobs_inner.py {' '.join(args)} failed", result.stderr[-4000:])
    parsed: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return parsed


@contextmanager
def running_worker(service_dir: Path, env: dict[str, str]) -> Iterator[None]:
    """Our worker (`jobs_inner.py worker`) in its own process on core 1, until the block ends."""
    worker = subprocess.Popen(
        [*pinned(1), sys.executable, str(INNER), "worker"],
        cwd=service_dir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert worker.stdout is not None
        if b"ready" not in worker.stdout.readline():
            raise SetupError("the jobs bench's worker did not start", "")
        yield
    finally:
        worker.terminate()
        worker.wait(timeout=30)


def percentiles(milliseconds: list[float]) -> dict[str, float]:
    values = sorted(milliseconds)
    return {
        "p50_ms": round(statistics.median(values), 2),
        "p99_ms": round(values[max(0, int(len(values) * 0.99) - 1)], 2),
        "max_ms": round(values[-1], 2),
    }


def latencies(service_dir: Path, env: dict[str, str]) -> dict[str, Any]:
    import redis  # the service's dependency, in the bench's environment too

    client = redis.Redis.from_url(REDIS_URL)
    key = f"{env['JOBS_QUEUE']}:latencies"
    client.delete(key)
    try:
        with running_worker(service_dir, env):
            produced = inner(service_dir, env, 0, "produce", str(RATE), str(SECONDS))
            deadline = time.monotonic() + 30
            while client.llen(key) < produced["sent"] and time.monotonic() < deadline:
                time.sleep(0.1)
            values = [float(value) * 1000 for value in client.lrange(key, 0, -1)]
    finally:
        client.delete(key, env["JOBS_QUEUE"], f"{env['JOBS_QUEUE']}:ran")
    if len(values) < produced["sent"]:
        raise SetupError(f"{produced['sent'] - len(values)} jobs never started", "")
    return {"sent": produced["sent"], "rate_per_s": RATE, **percentiles(values)}


def routes_env(service_dir: Path, env: dict[str, str]) -> dict[str, str]:
    """The environment bench/jobs_app.py is served in: the service's import path and bench/."""
    return {**env, "PYTHONPATH": os.pathsep.join([str(service_dir), str(INNER.parent)])}


def items_count(url: str) -> int:
    import asyncpg  # type: ignore[import-untyped]  # the service's driver

    async def count() -> int:
        connection = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
        try:
            return int(await connection.fetchval("SELECT count(*) FROM items"))
        finally:
            await connection.close()

    return asyncio.run(count())


def drained(client: Any, queue: str, jobs: int) -> dict[str, int]:
    """Wait until every job sent (and at least `jobs`) has run, or DRAIN_TIMEOUT_S; what the
    stream shows then. The relay may still be sending the last commits' jobs when this starts."""
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    while time.monotonic() < deadline:
        if client.scard(f"{queue}:ran") >= max(jobs, int(client.xlen(queue))):
            break
        time.sleep(0.2)
    return {
        "sent": int(client.xlen(queue)),
        "runs": int(client.llen(f"{queue}:latencies")),
        "distinct_run": int(client.scard(f"{queue}:ran")),
    }


def post_load(work: Path) -> tuple[str | None, Path]:
    """wrk, if it can be had, and its script making every request a POST without a body."""
    script = work / "post.lua"
    script.write_text(POST_SCRIPT)
    return wrk_available(), script


def measure_routes(
    service_dir: Path, env: dict[str, str], work: Path, database_url: str, rounds: int
) -> dict[str, Any]:
    import redis

    wrk, script = post_load(work)
    if wrk is None:
        return {"skipped": "wrk could not be had; this load needs a POST"}
    queue = f"bench-routes-{secrets.token_hex(6)}"
    env = {**env, "JOBS_QUEUE": queue}
    client = redis.Redis.from_url(REDIS_URL)
    before = items_count(database_url)
    runs: dict[str, list[LoadRun]] = {name: [] for name in ROUTES}
    try:
        with (
            running_worker(service_dir, env),
            serve(
                "jobs-routes", service_dir, routes_env(service_dir, env), app="jobs_app:app"
            ) as server,
        ):

            def load(name: str, seconds: int) -> LoadRun:
                url = server.base + ROUTES[name]
                return with_server_cpu(
                    server, lambda: run_wrk(wrk, url, seconds, CONNECTIONS, script=script)
                )

            alternate(load, runs, rounds, ROUTE_SECONDS)
            # Every job sent must run.
            counts = drained(client, queue, 0)
        latency = [float(value) * 1000 for value in client.lrange(f"{queue}:latencies", 0, -1)]
    finally:
        client.delete(queue, f"{queue}:latencies", f"{queue}:ran")
    medians = {name: median_run(values) for name, values in runs.items()}
    ratio = round(
        medians["write+enqueue"]["requests_per_s"] / medians["write"]["requests_per_s"], 3
    )
    return {
        "connections": CONNECTIONS,
        "seconds_per_run": ROUTE_SECONDS,
        "rounds": rounds,
        "routes": medians,
        "ratio": ratio,
        "items_inserted": items_count(database_url) - before,
        "jobs": counts,
        "enqueue_to_start_under_load": percentiles(latency) if latency else None,
        "target": ROUTE_TARGET,
        "pass": ratio >= ROUTE_TARGET and counts["distinct_run"] == counts["sent"],
    }


class ProxyThread:
    """The rendered service's CuttableProxy to the local Redis, on an event loop of its own in a
    thread of this process, cut and restored from the bench's synchronous code."""

    def __init__(self, module: ModuleType) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.proxy = module.CuttableProxy("127.0.0.1", REDIS_PORT)
        self.start()

    def _run(self, coroutine: Coroutine[Any, Any, None]) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=30)

    def start(self) -> None:
        self._run(self.proxy.start())

    def cut(self) -> None:
        self._run(self.proxy.cut())

    def close(self) -> None:
        self.cut()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.proxy.port}/0"


def load_proxy_module(service_dir: Path) -> ModuleType:
    path = service_dir / "tests" / "support" / "tcp_proxy.py"
    spec = importlib.util.spec_from_file_location("rendered_tcp_proxy", path)
    if spec is None or spec.loader is None:
        raise SetupError(f"no proxy at {path}", "")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def measure_outage(
    service_dir: Path, env: dict[str, str], work: Path, database_url: str
) -> dict[str, Any]:
    import redis

    wrk, script = post_load(work)
    if wrk is None:
        return {"skipped": "wrk could not be had; this load needs a POST"}
    queue = f"bench-outage-{secrets.token_hex(6)}"
    client = redis.Redis.from_url(REDIS_URL)
    proxy = ProxyThread(load_proxy_module(service_dir))
    env = {**env, "JOBS_QUEUE": queue, "REDIS_URL": proxy.url}
    before = items_count(database_url)
    phases: dict[str, LoadRun] = {}
    try:
        with (
            running_worker(service_dir, env),
            serve(
                "jobs-outage", service_dir, routes_env(service_dir, env), app="jobs_app:app"
            ) as server,
        ):
            url = server.base + ROUTES["write+enqueue"]
            for phase in ("up", "down", "back"):
                if phase == "down":
                    proxy.cut()
                elif phase == "back":
                    proxy.start()
                phases[phase] = with_server_cpu(
                    server, lambda: run_wrk(wrk, url, OUTAGE_SECONDS, CONNECTIONS, script=script)
                )
            time.sleep(1.0)  # the requests wrk left in flight commit meanwhile
            committed = items_count(database_url) - before
            counts = drained(client, queue, committed)
    finally:
        proxy.close()
        client.delete(queue, f"{queue}:latencies", f"{queue}:ran")
    lost = committed - counts["distinct_run"]
    return {
        "seconds_per_phase": OUTAGE_SECONDS,
        "phases": {
            phase: {
                "requests_per_s": round(run.requests_per_s, 1),
                "p99_ms": round(run.p99_ms, 2),
                "errors": run.errors,
                "server_cpu_ms": run.server_cpu_ms,
            }
            for phase, run in phases.items()
        },
        "committed": committed,
        "jobs": counts,
        "lost": lost,
        "pass": lost == 0 and all(run.errors == 0 for run in phases.values()),
    }


def measure_jobs(snapshot: Path, work: Path, rounds: int) -> dict[str, Any]:
    service_dir = work / "jobs-service"
    run_copy(str(snapshot), service_dir, data={"jobs": "taskiq"}, defaults=True, quiet=True)
    with bench_database() as database:
        env = {
            **os.environ,
            "PYTHONPATH": str(service_dir),
            "ENVIRONMENT": "test",
            "LOG_LEVEL": "WARNING",
            "LOG_JSON": "true",
            "DATABASE_URL": database.url,
            "REDIS_URL": REDIS_URL,
            "JOBS_QUEUE": f"bench-jobs-{secrets.token_hex(6)}",
            "JOBS_HEARTBEAT_FILE": str(work / "heartbeat"),
        }
        migrate(service_dir, env)
        runs: dict[str, list[float]] = {"bare": [], "ours": []}
        for _ in range(rounds):
            for kind in ("bare", "ours"):
                figure = inner(service_dir, env, 0, "throughput", kind, str(JOBS))
                runs[kind].append(figure["per_second"])
        latency = latencies(service_dir, env)
        routes = measure_routes(service_dir, env, work, database.url, rounds)
        outage = measure_outage(service_dir, env, work, database.url)
    medians = {kind: round(statistics.median(values), 1) for kind, values in runs.items()}
    ratio = round(medians["ours"] / medians["bare"], 3)
    return {
        "jobs_per_run": JOBS,
        "rounds": rounds,
        "pinned": bool(pinned(0)),
        "runs": runs,
        "jobs_per_s": medians,
        "ratio": ratio,
        "latency": latency,
        "routes": routes,
        "outage": outage,
        "targets": {"ratio": THROUGHPUT_TARGET, "p99_ms": P99_TARGET_MS, "route": ROUTE_TARGET},
        "pass": ratio >= THROUGHPUT_TARGET
        and latency["p99_ms"] <= P99_TARGET_MS
        and routes.get("pass", True)
        and outage.get("pass", True),
    }


def report_jobs(jobs: dict[str, Any] | None) -> None:
    if jobs is None:
        print("Background jobs: skipped (--skip-jobs)")
        return
    if "skipped" in jobs:
        print(f"Background jobs: skipped ({jobs['skipped']})")
        return
    print(
        f"Background jobs: {jobs['jobs_per_run']} no-op jobs per run, one worker, "
        f"{jobs['rounds']} alternating rounds, medians:"
    )
    for kind in ("bare", "ours"):
        print(f"  {kind:<5} {jobs['jobs_per_s'][kind]:>9.0f} jobs/s")
    target = jobs["targets"]["ratio"]
    passed = verdict(jobs["ratio"] >= target)
    print(f"  ours / bare {jobs['ratio']:>9.3f}   target >= {target:g}   {passed}")
    latency = jobs["latency"]
    print(
        f"  enqueue (commit) to start at {latency['rate_per_s']} jobs/s, {latency['sent']} jobs: "
        f"p50 {latency['p50_ms']} ms, p99 {latency['p99_ms']} ms, max {latency['max_ms']} ms   "
        f"target p99 <= {jobs['targets']['p99_ms']:g} ms   "
        f"{verdict(latency['p99_ms'] <= jobs['targets']['p99_ms'])}"
    )
    report_routes(jobs["routes"])
    report_outage(jobs["outage"])


def report_routes(routes: dict[str, Any]) -> None:
    if "skipped" in routes:
        print(f"  the route's cost of enqueueing: skipped ({routes['skipped']})")
        return
    print(
        f"  the same insert without and with a job enqueued, {routes['connections']} connections, "
        f"{routes['rounds']} alternating rounds, medians, our worker on the other core:"
    )
    for name, figures in routes["routes"].items():
        print(
            f"    {name:<14} {figures['requests_per_s']:>8.0f} req/s"
            f"   p99 {figures['p99_ms']:>7.1f} ms   {cpu_figure(figures.get('server_cpu_ms'))}"
        )
    passed = verdict(routes["pass"])
    print(f"    with / without {routes['ratio']:>8.3f}   target >= {routes['target']:g}   {passed}")
    jobs = routes["jobs"]
    print(
        f"    jobs sent {jobs['sent']}, run {jobs['distinct_run']} "
        f"({jobs['runs']} runs in all); items inserted by both routes {routes['items_inserted']}"
    )
    latency = routes["enqueue_to_start_under_load"]
    if latency:
        print(
            "    commit to start under this load: "
            f"p50 {latency['p50_ms']} ms, p99 {latency['p99_ms']} ms"
        )


def report_outage(outage: dict[str, Any]) -> None:
    if "skipped" in outage:
        print(f"  Redis down, then back: skipped ({outage['skipped']})")
        return
    print(
        f"  Redis down, then back: the enqueueing route, {outage['seconds_per_phase']} s a phase:"
    )
    for phase, figures in outage["phases"].items():
        print(
            f"    {phase:<5} {figures['requests_per_s']:>8.0f} req/s"
            f"   p99 {figures['p99_ms']:>7.1f} ms   errors {figures['errors']}"
            f"   {cpu_figure(figures.get('server_cpu_ms'))}"
        )
    jobs = outage["jobs"]
    print(
        f"    jobs committed {outage['committed']}, sent {jobs['sent']}, "
        f"run {jobs['distinct_run']} ({jobs['runs']} runs in all), lost {outage['lost']}"
        f"   {verdict(outage['pass'])}"
    )


if __name__ == "__main__":
    import tempfile

    sys.path.insert(0, str(ROOT))
    from tests.rendering import snapshot_template

    with tempfile.TemporaryDirectory(prefix="bench-jobs-") as tmp:
        result = measure_jobs(snapshot_template(Path(tmp) / "template"), Path(tmp), rounds=3)
    report_jobs(result)
