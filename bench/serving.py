"""What every section that serves and loads shares: one pinned uvicorn worker, wrk, medians."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
TUNED_UVICORN = ROOT / "bench" / "tuned_uvicorn.py"
WARMUP_S = 2
CONNECTIONS = 64
STARTUP_TIMEOUT_S = 30
LIVE_PATH = "/health/live"

# The local PostgreSQL (trust authentication): the authenticated read runs on a database of its
# own there, created for the run and dropped after it.
DATABASE_SERVER = "postgres@127.0.0.1:5432"

# The service as production runs it. Production refuses the default DATABASE_URL and JWT_SECRET,
# and starts only with ALLOWED_HOSTS set.
# Liveness never touches the database, so there the URL only has to be acceptable, not reachable.
SERVICE_ENV = {
    "ENVIRONMENT": "production",
    "ALLOWED_HOSTS": "127.0.0.1",
    "DATABASE_URL": f"postgresql+asyncpg://{DATABASE_SERVER}/postgres",
    "JWT_SECRET": secrets.token_urlsafe(64),
    "LOG_JSON": "true",
}

# The baseline: FastAPI with nothing but the route, so the ratio prices the service's own layers.
BARE_APP = """\
from fastapi import FastAPI

app = FastAPI()


@app.get("/health/live")
async def live():
    return {"status": "ok"}
"""

SERVER_CORE = 0
LOAD_CORE = 1


class SetupError(RuntimeError):
    """Something a measurement needs could not be set up; carries the output that says why."""

    def __init__(self, message: str, output: str) -> None:
        super().__init__(message)
        self.output = output


class ServerStartError(SetupError):
    """A server under test exited or never answered 200; carries what it wrote to stderr."""

    def __init__(self, name: str, reason: str, output: str) -> None:
        super().__init__(f"the {name} server {reason}", output)


@dataclass
class LoadRun:
    """One load-generator run against one server.

    `errors` counts every failed request; `timeouts` and `non_2xx` are the parts of it that wrk
    reports separately (a timed-out request is also missing from wrk's latency percentiles).
    """

    requests_per_s: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    timeouts: int = 0
    non_2xx: int = 0
    # The server's own CPU time per answered request: a figure the other tenants of the machine
    # disturb far less than req/s, so it shows what a code change saves.
    server_cpu_ms: float | None = None


LoadGenerator = Callable[[str, int], LoadRun]


def verdict(passed: bool) -> str:
    return "PASS" if passed else "MISS"


def pinned(core: int) -> list[str]:
    """A `taskset` prefix that keeps a process on one core, when taskset and 2 cores exist."""
    if shutil.which("taskset") and (os.cpu_count() or 1) > max(SERVER_CORE, LOAD_CORE):
        return ["taskset", "-c", str(core)]
    return []


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_live(name: str, url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    """Poll url until it answers 200; raise ServerStartError if the server exits or times out."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback
                if response.status == 200:
                    return
        except OSError:  # refused while starting, or an HTTPError (a subclass)
            pass
        if server.poll() is not None:
            raise ServerStartError(name, f"exited with {server.returncode}", log.read_text())
        if time.monotonic() > deadline:
            reason = f"did not answer 200 at {url} within {STARTUP_TIMEOUT_S} s"
            raise ServerStartError(name, reason, log.read_text())
        time.sleep(0.2)


def stop(server: subprocess.Popen[bytes]) -> None:
    """Terminate, wait, and kill if it will not go."""
    if server.poll() is not None:
        return
    server.terminate()
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


@dataclass(frozen=True)
class Server:
    """A running server: its liveness URL and its process."""

    url: str
    pid: int

    @property
    def base(self) -> str:
        return self.url.removesuffix(LIVE_PATH)

    def cpu_seconds(self) -> float | None:
        """User plus system CPU time the process has used so far, where /proc tells it."""
        try:
            stat = Path(f"/proc/{self.pid}/stat").read_text()
        except OSError:
            return None
        fields = stat.rsplit(")", 1)[1].split()  # after "pid (name)": state is fields[0]
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def serve(name: str, cwd: Path, env: dict[str, str], *, app: str | None = None) -> Iterator[Server]:
    """Run one uvicorn worker on a free port, pinned to SERVER_CORE; yield it.

    `app` ("module:attribute") is served by plain uvicorn: the bare baseline. Without it, the
    rendered service in `cwd` is served by bench/tuned_uvicorn.py, with the collector tuned as the
    service's gunicorn.conf.py tunes a production worker.
    """
    port = free_port()
    if app is None:
        launcher = [str(TUNED_UVICORN), str(port)]
    else:
        launcher = ["-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port)]
        launcher += ["--workers", "1", "--no-access-log", "--log-level", "warning"]
    command = [*pinned(SERVER_CORE), sys.executable, *launcher]
    log = cwd.with_name(f"{name}.log")
    with log.open("wb") as output:
        server = subprocess.Popen(command, cwd=cwd, env=env, stdout=output, stderr=output)
    try:
        url = f"http://127.0.0.1:{port}{LIVE_PATH}"
        wait_until_live(name, url, server, log)
        yield Server(url, server.pid)  # taskset execs the server, so the pid is uvicorn's
    finally:
        stop(server)


def wrk_available() -> str | None:
    """The path of wrk, installing it with apt-get first when it is missing and we are root."""
    wrk = shutil.which("wrk")
    if wrk is None and os.geteuid() == 0 and shutil.which("apt-get"):
        print("wrk is missing; installing it with apt-get")
        subprocess.run(["apt-get", "update", "-qq"], capture_output=True, check=False)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], capture_output=True, check=False)
        wrk = shutil.which("wrk")
    return wrk


def _milliseconds(value: str, unit: str) -> float:
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}
    return float(value) * scale[unit]


def parse_wrk(output: str) -> LoadRun:
    """Read req/s, the 50th and 99th latency percentiles and the error counts from wrk's output."""

    def find(pattern: str) -> re.Match[str]:
        match = re.search(pattern, output, re.MULTILINE)
        if match is None:
            raise ValueError(f"wrk printed no {pattern!r}:\n{output}")
        return match

    p50 = find(r"^\s*50%\s+([\d.]+)(us|ms|s|m)\s*$")
    p99 = find(r"^\s*99%\s+([\d.]+)(us|ms|s|m)\s*$")
    bad_status = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    non_2xx = int(bad_status.group(1)) if bad_status else 0
    socket_counts = [int(n) for n in socket_errors.groups()] if socket_errors else [0, 0, 0, 0]
    return LoadRun(
        requests_per_s=float(find(r"Requests/sec:\s+([\d.]+)").group(1)),
        p50_ms=_milliseconds(*p50.groups()),
        p99_ms=_milliseconds(*p99.groups()),
        requests=int(find(r"(\d+) requests in").group(1)),
        errors=non_2xx + sum(socket_counts),
        timeouts=socket_counts[3],
        non_2xx=non_2xx,
    )


def run_wrk(
    wrk: str,
    url: str,
    seconds: int,
    connections: int,
    *,
    headers: tuple[str, ...] = (),
    script: Path | None = None,
    timeout_s: int = 2,
) -> LoadRun:
    """One `wrk -t1 --latency` run pinned to LOAD_CORE; a request slower than timeout_s is lost."""
    command = [*pinned(LOAD_CORE), wrk, "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    command += ["--timeout", f"{timeout_s}s"]
    for header in headers:
        command += ["-H", header]
    if script is not None:
        command += ["-s", str(script)]
    result = subprocess.run(
        [*command, url],
        capture_output=True,
        text=True,
        timeout=seconds + timeout_s + 30,
        check=True,
    )
    return parse_wrk(result.stdout)


def wrk_load(wrk: str) -> LoadGenerator:
    """Load with `wrk -t1 -c64 --latency`, pinned to LOAD_CORE."""

    def load(url: str, seconds: int) -> LoadRun:
        return run_wrk(wrk, url, seconds, CONNECTIONS)

    return load


async def _keep_alive_load(url: str, seconds: int) -> LoadRun:
    """CONNECTIONS keep-alive HTTP/1.1 connections, each sending GETs back to back."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    request = f"GET {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n\r\n".encode()
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def connection() -> None:
        nonlocal errors
        try:
            reader, writer = await asyncio.open_connection(host, port)
        except OSError:
            errors += 1
            return
        try:
            while time.perf_counter() < deadline:
                sent = time.perf_counter()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
                await reader.readexactly(int(length.group(1)) if length else 0)
                latencies.append(time.perf_counter() - sent)
                if not head.startswith(b"HTTP/1.1 2"):
                    errors += 1
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            errors += 1
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(CONNECTIONS)))
    elapsed = time.perf_counter() - started
    cuts = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else latencies * 99
    return LoadRun(
        requests_per_s=len(latencies) / elapsed,
        p50_ms=cuts[49] * 1000,
        p99_ms=cuts[98] * 1000,
        requests=len(latencies),
        errors=errors,
    )


def python_load(url: str, seconds: int) -> LoadRun:
    """The fallback when wrk cannot be had: an asyncio load generator pinned to LOAD_CORE."""
    previous = os.sched_getaffinity(0)
    if pinned(LOAD_CORE):
        os.sched_setaffinity(0, {LOAD_CORE})
    try:
        return asyncio.run(_keep_alive_load(url, seconds))
    finally:
        os.sched_setaffinity(0, previous)


def bare_app_dir(work: Path) -> Path:
    """The directory holding BARE_APP as bare_app.py, written on first use."""
    bare_dir = work / "bare"
    bare_dir.mkdir(exist_ok=True)
    (bare_dir / "bare_app.py").write_text(BARE_APP)
    return bare_dir


def median_run(runs: list[LoadRun]) -> dict[str, Any]:
    """Median over the rounds of each figure, and the totals of errors."""
    return {
        "requests_per_s": round(statistics.median(run.requests_per_s for run in runs), 1),
        "p50_ms": round(statistics.median(run.p50_ms for run in runs), 2),
        "p99_ms": round(statistics.median(run.p99_ms for run in runs), 2),
        "errors": sum(run.errors for run in runs),
        "timeouts": sum(run.timeouts for run in runs),
        "non_2xx": sum(run.non_2xx for run in runs),
        "server_cpu_ms": _median_or_none([run.server_cpu_ms for run in runs]),
    }


def _median_or_none(values: list[float | None]) -> float | None:
    known = [value for value in values if value is not None]
    return round(statistics.median(known), 3) if known else None


def migrate(service_dir: Path, env: dict[str, str]) -> None:
    """`alembic upgrade head` in the rendered service, as its deployment's migrate job does."""
    command = [sys.executable, "-m", "alembic", "upgrade", "head"]
    result = subprocess.run(
        command, cwd=service_dir, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    if result.returncode != 0:
        raise SetupError("migrating the bench database failed", result.stdout + result.stderr)


def run_probe(
    script: str,
    args: list[str],
    service_dir: Path,
    env: dict[str, str],
    *,
    failure: str,
    prefix: list[str] | None = None,
    timeout: int = 60,
) -> str:
    """Run `script` with the service's interpreter inside its directory; return its stdout."""
    result = subprocess.run(
        [*(prefix or []), sys.executable, "-c", script, *args],
        cwd=service_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise SetupError(failure, result.stderr)
    return result.stdout


def with_server_cpu(server: Server, load: Callable[[], LoadRun]) -> LoadRun:
    """Run load and add the server's CPU milliseconds per request it answered meanwhile."""
    before = server.cpu_seconds()
    run = load()
    after = server.cpu_seconds()
    if before is not None and after is not None and run.requests:
        run.server_cpu_ms = round((after - before) * 1000 / run.requests, 3)
    return run


def cpu_figure(milliseconds: float | None) -> str:
    return f"{milliseconds:5.2f} ms CPU" if milliseconds is not None else "CPU unknown"


def alternate(
    load: Callable[[str, int], LoadRun], runs: dict[str, list[LoadRun]], rounds: int, seconds: int
) -> None:
    """Warm each server up, then load them in turn for `rounds` rounds, so drift hits all alike."""
    for name in runs:
        load(name, WARMUP_S)
    for _ in range(rounds):
        for name in runs:
            runs[name].append(load(name, seconds))
