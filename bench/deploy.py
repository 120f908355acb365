"""Benchmark of the deployment: cold start and memory of the service as its Dockerfile starts it.

For each database answer, renders the service, installs it as the Dockerfile's build stage does
(`uv sync --no-dev --no-install-project` into a fresh virtualenv, bytecode compiled, the app's too),
and runs the Dockerfile's CMD (gunicorn with gunicorn.conf.py) with ENVIRONMENT=production and
LOG_JSON=true:

- cold start: process start to the first 200 on /health/ready, median of 5 (target <= 1.5 s);
- RSS per worker after at least 10,000 requests spread over the probes and the API (target
  <= 120 MB), sent by wrk (64 connections) when it is installed, else by a keep-alive Python loop.

Run it from the repo root with an interpreter that has copier, and uv on PATH (`nox -s bench`'s
environment will do): `.nox/bench/bin/python bench/deploy.py [--database sqlite] [--runs 5]`.
The postgresql variant needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust). Figures go to
stdout and to bench/results/deploy.json.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"

# bench/ runs as a script, so the repo root is not on sys.path; tests.rendering owns the snapshot.
sys.path.insert(0, str(ROOT))
from tests.rendering import render, snapshot_template  # noqa: E402

COLD_START_TARGET_S = 1.5
RSS_TARGET_MB = 120
REQUESTS = 10_000
CONNECTIONS = 64
READY_TIMEOUT_S = 30
ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"

# Requests cycle through these: /health/ready makes a database round trip where there is one.
PATHS = ["/health/live", "/health/ready", "/api/v1/info"]

# Each request takes the next path in turn.
WRK_SCRIPT = """\
local paths = {%s}
local sent = 0
request = function()
  sent = sent + 1
  return wrk.format("GET", paths[(sent %% #paths) + 1])
end
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def dockerfile_cmd(project: Path) -> list[str]:
    """The exec-form CMD of the rendered Dockerfile."""
    for line in (project / "Dockerfile").read_text().splitlines():
        if line.startswith("CMD "):
            command: list[str] = json.loads(line.removeprefix("CMD "))
            return command
    raise SystemExit("the rendered Dockerfile has no CMD")


def install(project: Path) -> Path:
    """The image's virtualenv: what the Dockerfile's build stage runs, into project/.venv."""
    env = os.environ | {
        "UV_COMPILE_BYTECODE": "1",
        "UV_PROJECT_ENVIRONMENT": str(project / ".venv"),
        "VIRTUAL_ENV": "",
    }
    uv = shutil.which("uv")
    if uv is None:
        raise SystemExit("uv is not on PATH (pip install uv)")
    sync = [uv, "sync", "--no-dev", "--no-install-project", "--quiet"]
    subprocess.run(sync, cwd=project, env=env, check=True)
    python = project / ".venv" / "bin" / "python"
    compile_app = [python, "-m", "compileall", "-q", "--invalidation-mode", "checked-hash", "app"]
    subprocess.run(compile_app, cwd=project, check=True)
    return python


# Run with the service's own interpreter, whose asyncpg is the postgresql variant's driver.
ADMIN_SCRIPT = """\
import asyncio, sys, asyncpg
async def main():
    connection = await asyncpg.connect(sys.argv[1])
    try:
        await connection.execute(sys.argv[2])
    finally:
        await connection.close()
asyncio.run(main())
"""


def production_env() -> dict[str, str]:
    """What the Deployment's ConfigMap and Secret set, the database apart."""
    secret = secrets.token_urlsafe(48)  # JWT_SECRET, where auth=jwt; production refuses the default
    return {
        "ENVIRONMENT": "production",
        "ALLOWED_HOSTS": "127.0.0.1",
        "LOG_JSON": "true",
        "JWT_SECRET": secret,
        # /api/v1/info is rate limited: the load measures memory, not the limiter's 429s.
        "RATE_LIMIT_DEFAULT": "1000000000/day",
    }


def admin(python: Path, statement: str) -> None:
    subprocess.run([python, "-c", ADMIN_SCRIPT, ADMIN_URL, statement], check=True)


@contextmanager
def database(answer: str, project: Path, python: Path) -> Iterator[dict[str, str]]:
    """A fresh, migrated database for the variant; yields the environment that points at it."""
    if answer == "none":
        yield {}
        return
    with tempfile.TemporaryDirectory() as data:
        name = None
        if answer == "sqlite":
            env = {"DATABASE_URL": f"sqlite+aiosqlite:///{data}/bench.db"}
        else:
            name = f"bench_deploy_{uuid.uuid4().hex[:8]}"
            admin(python, f'CREATE DATABASE "{name}"')
            env = {"DATABASE_URL": f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"}
        try:
            migrate = [python, "-m", "alembic", "upgrade", "head"]
            migrated = subprocess.run(
                migrate, cwd=project, env=os.environ | production_env() | env, capture_output=True
            )
            if migrated.returncode != 0:
                raise SystemExit(f"the migrations failed:\n{migrated.stderr.decode()}")
            yield env
        finally:
            if name:
                admin(python, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def start(project: Path, env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    command = dockerfile_cmd(project)
    # The image puts the virtualenv's bin first on PATH; so does this.
    command[0] = str(project / ".venv" / "bin" / command[0])
    service_env = os.environ | env | {"BIND": f"127.0.0.1:{port}"}
    return subprocess.Popen(
        command, cwd=project, env=service_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def wait_ready(server: subprocess.Popen[bytes], port: int) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    url = f"http://127.0.0.1:{port}/health/ready"
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError):
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the service never answered 200 on {url}")
        time.sleep(0.005)


def stop(server: subprocess.Popen[bytes]) -> None:
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def cold_starts(project: Path, env: dict[str, str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        port = free_port()
        began = time.perf_counter()
        server = start(project, env, port)
        try:
            wait_ready(server, port)
            times.append(time.perf_counter() - began)
        finally:
            stop(server)
    return times


def worker_pids(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [int(pid) for pid in children]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise SystemExit(f"no VmRSS for process {pid}")


def load_with_wrk(port: int, paths: list[str], work: Path) -> int:
    """Run wrk in 2-second rounds until it has sent REQUESTS; returns how many it sent."""
    script = work / "paths.lua"
    script.write_text(WRK_SCRIPT % ", ".join(f'"{path}"' for path in paths))
    command = [
        "wrk",
        "-t1",
        f"-c{CONNECTIONS}",
        "-d2s",
        "-s",
        str(script),
        f"http://127.0.0.1:{port}",
    ]
    sent = 0
    while sent < REQUESTS:
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        match = re.search(r"(\d+) requests in", output)
        if match is None or "Non-2xx" in output:
            raise SystemExit(f"wrk reported errors or no count:\n{output}")
        sent += int(match.group(1))
    return sent


def load_with_python(port: int, paths: list[str]) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    for number in range(REQUESTS):
        connection.request("GET", paths[number % len(paths)])
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            raise SystemExit(f"{paths[number % len(paths)]} answered {response.status}")
    connection.close()
    return REQUESTS


def memory_after_load(project: Path, env: dict[str, str], paths: list[str]) -> dict[str, Any]:
    port = free_port()
    # gunicorn.conf.py replaces a worker after about 10,000 requests (MAX_REQUESTS); here the
    # worker must live through the whole load, or the figure would be a fresh worker's.
    server = start(project, env | {"MAX_REQUESTS": "0"}, port)
    try:
        wait_ready(server, port)
        before = worker_pids(server.pid)
        with tempfile.TemporaryDirectory() as work:
            if shutil.which("wrk"):
                tool, sent = "wrk", load_with_wrk(port, paths, Path(work))
            else:
                tool, sent = "python", load_with_python(port, paths)
        if worker_pids(server.pid) != before:
            raise SystemExit("a worker was replaced during the load; its RSS would mean nothing")
        workers = [round(rss_mb(pid), 1) for pid in before]
        return {
            "load": tool,
            "requests": sent,
            "worker_rss_mb": workers,
            "master_rss_mb": round(rss_mb(server.pid), 1),
        }
    finally:
        stop(server)


def measure(template: Path, answer: str, runs: int, work: Path) -> dict[str, Any]:
    project = render(template, {"database": answer}, work / answer)
    python = install(project)
    with database(answer, project, python) as env:
        env = production_env() | env
        times = cold_starts(project, env, runs)
        memory = memory_after_load(project, env, PATHS)
    return {"cold_start_s": [round(t, 3) for t in times], **memory}


def report(answer: str, result: dict[str, Any]) -> None:
    median = statistics.median(result["cold_start_s"])
    worst_worker = max(result["worker_rss_mb"])
    cold = "PASS" if median <= COLD_START_TARGET_S else "MISS"
    memory = "PASS" if worst_worker <= RSS_TARGET_MB else "MISS"
    runs = ", ".join(f"{t:.2f}" for t in result["cold_start_s"])
    print(f"\n== database={answer}")
    print(f"cold start to the first 200 on /health/ready: median {median:.2f} s ({runs})  [{cold}]")
    print(
        f"RSS after {result['requests']} requests ({result['load']}): worker {worst_worker:.1f} MB"
        f"  [{memory}]; master {result['master_rss_mb']:.1f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database",
        action="append",
        choices=["postgresql", "sqlite", "none"],
        help="a variant to measure; repeat for several (default: all three)",
    )
    parser.add_argument("--runs", type=int, default=5, help="cold starts per variant")
    args = parser.parse_args()
    answers = args.database or ["postgresql", "sqlite", "none"]
    print(f"load average at start: {', '.join(f'{load:.2f}' for load in os.getloadavg())}")
    results: dict[str, Any] = {"load_average": os.getloadavg()}
    with tempfile.TemporaryDirectory() as tmp:
        template = snapshot_template(Path(tmp) / "template")
        for answer in answers:
            results[answer] = measure(template, answer, args.runs, Path(tmp))
            report(answer, results[answer])
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "deploy.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
