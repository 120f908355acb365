"""Benchmark of the template: render time, matrix wall time, fuzz time and the service's throughput.

The rendered service is measured twice: `/health/live` against bare FastAPI (the cost of the
service's own layers), and an authenticated database read, `GET /api/v1/users/me`, on a fresh
database of the local PostgreSQL, at 64 and 256 connections, plus the login rate. The rate limiter's
backends, and metrics and tracing on versus off (/health/live and the items list), are priced
against the same service without them, in the same run.

Run it as `nox -s bench [-- options]`, or as `python bench/bench.py [options]` from the repo root in
an environment holding copier and the rendered service's dependencies. It prints a report and
writes bench/results/latest.json. A missed target is reported, not enforced: the exit code is 1 only
when something could not be measured (a server that never came up).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from copier import run_copy, run_update

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"

# bench/ runs as a script, so the repo root is not on sys.path; tests.rendering owns the snapshot.
sys.path.insert(0, str(ROOT))
import matrix_costs  # noqa: E402 - bench/, the script's own folder, is on sys.path too

from tests.matrix import VARIANTS  # noqa: E402
from tests.rendering import render, snapshot_template  # noqa: E402

RENDER_TARGET_S = 1.0
MATRIX_TARGET_S = 20 * 60
RATIO_TARGET = 0.85
FUZZ_TARGET_S = 15.0

RENDER_RUNS = 5
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


# --- 1. Render time -------------------------------------------------------------------------


def measure_render(snapshot: Path, work: Path) -> dict[str, Any]:
    """Time copier rendering the default answers into fresh directories, RENDER_RUNS times."""
    seconds = []
    for run in range(RENDER_RUNS):
        started = time.perf_counter()
        run_copy(str(snapshot), work / f"render-{run}", defaults=True, quiet=True, unsafe=False)
        seconds.append(time.perf_counter() - started)
    median = statistics.median(seconds)
    return {
        "runs_s": [round(s, 4) for s in seconds],
        "median_s": round(median, 4),
        "min_s": round(min(seconds), 4),
        "target_s": RENDER_TARGET_S,
        "pass": median <= RENDER_TARGET_S,
    }


def report_render(render: dict[str, Any]) -> None:
    print(
        f"Render, default answers, {RENDER_RUNS} runs:  median {render['median_s']:.3f} s, "
        f"min {render['min_s']:.3f} s   target <= {RENDER_TARGET_S:g} s   "
        f"{verdict(render['pass'])}"
    )


# --- 1b. Update time -------------------------------------------------------------------------

UPDATE_RUNS = 3
UPDATE_TARGET_S = 3.0


def _git(cwd: Path, *args: str) -> None:
    identity = ["-c", "user.name=Bench", "-c", "user.email=bench@example.com"]
    subprocess.run(["git", *identity, *args], cwd=cwd, check=True, capture_output=True)


def _commit(repo: Path, tag: str | None = None) -> None:
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "bench")
    if tag:
        _git(repo, "tag", tag)


def measure_update(snapshot: Path, work: Path) -> dict[str, Any]:
    """Time `copier update` of the default service from one template tag to the next.

    The template is a git repository tagged 1.0.0, then 1.1.0 after a one-line change; each run
    renders and commits a fresh service at 1.0.0 (untimed) and times the update to 1.1.0.
    """
    template = work / "update-template"
    shutil.copytree(snapshot, template)
    _git(template, "init", "-q", "-b", "main")
    _commit(template, "1.0.0")
    context = template / "template/app/core/request_context.py"
    context.write_text(context.read_text() + "\n# A change for the update benchmark.\n")
    _commit(template, "1.1.0")

    seconds = []
    for run in range(UPDATE_RUNS):
        service = work / f"update-service-{run}"
        run_copy(str(template), service, defaults=True, quiet=True, vcs_ref="1.0.0")
        _git(service, "init", "-q", "-b", "main")
        _commit(service)
        started = time.perf_counter()
        run_update(service, defaults=True, overwrite=True, quiet=True, vcs_ref="1.1.0")
        seconds.append(time.perf_counter() - started)
    median = statistics.median(seconds)
    return {
        "runs_s": [round(s, 4) for s in seconds],
        "median_s": round(median, 4),
        "target_s": UPDATE_TARGET_S,
        "pass": median <= UPDATE_TARGET_S,
    }


def report_update(update: dict[str, Any]) -> None:
    print(
        f"copier update, default service, {UPDATE_RUNS} runs:  median {update['median_s']:.3f} s"
        f"   target <= {UPDATE_TARGET_S:g} s   {verdict(update['pass'])}"
    )


# --- 2. Matrix wall time --------------------------------------------------------------------


def measure_matrix() -> dict[str, Any]:
    """Run the matrix as `nox -s matrix` does, on 2 workers; its output goes to a log file."""
    command = [sys.executable, "-m", "pytest", "-m", "matrix", "-n", "2", "tests", "-q"]
    log_path = RESULTS / "matrix.log"
    env = {**os.environ, "MATRIX_PYTHON": sys.executable, "MATRIX_TIMINGS": str(matrix_costs.FILE)}
    matrix_costs.FILE.unlink(missing_ok=True)
    shown = " ".join(["python", *command[1:]])
    print(f"Matrix: running `{shown}` (output in {log_path.relative_to(ROOT)})")
    started = time.perf_counter()
    with log_path.open("w") as log:
        # Bounded at twice the target: a matrix that slow has missed it whatever it ends at.
        try:
            subprocess.run(
                command,
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=2 * MATRIX_TARGET_S,
                check=False,
            )
            timed_out = False
        except subprocess.TimeoutExpired:
            timed_out = True
    wall = time.perf_counter() - started
    lines = log_path.read_text().strip().splitlines()
    summary = lines[-1] if lines else ""
    counts = {word: int(n) for n, word in re.findall(r"(\d+) (passed|failed|skipped)", summary)}
    variants = counts.get("passed", 0) + counts.get("failed", 0)
    return {
        "wall_s": round(wall, 1),
        "variants": variants,
        "per_variant_s": round(wall / variants, 1) if variants else None,
        "passed": counts.get("passed", 0),
        "failed": counts.get("failed", 0),
        "skipped": counts.get("skipped", 0),
        "timed_out": timed_out,
        "summary": summary,
        # `nox -s matrix -- key=value` narrows the matrix; the target is for the whole product.
        "filter": os.environ.get("MATRIX_FILTER", ""),
        "target_s": MATRIX_TARGET_S,
        "pass": not timed_out and wall <= MATRIX_TARGET_S,
    }


def report_matrix(matrix: dict[str, Any] | None) -> None:
    if matrix is None:
        print("Matrix: skipped (run it with `nox -s bench -- --matrix`; it takes minutes)")
        return
    per_variant = matrix["per_variant_s"]
    per = f"{per_variant:.1f} s per variant" if per_variant else "no variant ran"
    print(
        f"Matrix, variants run: {matrix['variants']}, 2 workers:  wall {matrix['wall_s']:.0f} s, "
        f"{per}   target <= {MATRIX_TARGET_S // 60} min   {verdict(matrix['pass'])}"
    )
    if matrix["failed"] or matrix["skipped"] or matrix["timed_out"] or not matrix["variants"]:
        print(f"  note: pytest said {matrix['summary']!r}; see bench/results/matrix.log")
    if matrix["filter"]:
        print(f"  note: narrowed by MATRIX_FILTER={matrix['filter']!r}, not the whole product")
    matrix_costs.report(matrix_costs.read_costs(matrix_costs.FILE), each=True)


# --- 2b. Fuzz time per variant --------------------------------------------------------------

FUZZ_DATABASE_URL = f"postgresql+asyncpg://{DATABASE_SERVER}/postgres"


def measure_fuzz(snapshot: Path, work: Path) -> dict[str, Any]:
    """Run each variant's own fuzz test (`pytest -m fuzz`) and count the cases it generates.

    bench/fuzz_cases.py, loaded as a pytest plugin, counts the requests schemathesis sends: one per
    generated case, plus the fuzz user's sign-up and login where auth=jwt.
    """
    variants: dict[str, Any] = {}
    for variant in (variant for variant in VARIANTS if variant.run_suite):
        project = render(snapshot, variant.answers, work / f"fuzz-{len(variants)}")
        cases_file = project / "fuzz-cases.json"
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT / "bench"),
            "FUZZ_CASES_FILE": str(cases_file),
            "TEST_DATABASE_URL": FUZZ_DATABASE_URL,
        }
        command = [sys.executable, "-m", "pytest", "-m", "fuzz", "-q", "-p", "fuzz_cases"]
        started = time.perf_counter()
        result = subprocess.run(
            [*command, "-p", "no:cacheprovider"],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        wall = time.perf_counter() - started
        summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
        reported = re.search(r" in ([\d.]+)s", summary)
        cases = json.loads(cases_file.read_text()) if cases_file.is_file() else {}
        variants[variant.id] = {
            "wall_s": round(wall, 2),
            "pytest_s": float(reported.group(1)) if reported else None,
            "operations": len(cases),
            "cases": sum(cases.values()),
            "cases_per_operation": cases,
            "passed": result.returncode == 0,
            "summary": summary,
        }
    # The target is on pytest's own time: the interpreter's start is not the fuzz test's cost.
    slowest = max((figures["pytest_s"] or wall for figures in variants.values()), default=0.0)
    return {
        "variants": variants,
        "target_s": FUZZ_TARGET_S,
        "pass": all(figures["passed"] for figures in variants.values())
        and slowest <= FUZZ_TARGET_S,
    }


def report_fuzz(fuzz: dict[str, Any] | None) -> None:
    if fuzz is None:
        print("Fuzz: skipped (--skip-fuzz)")
        return
    print("Fuzz, `pytest -m fuzz` in each variant (wall, and pytest's own time):")
    for name, figures in fuzz["variants"].items():
        outcome = "" if figures["passed"] else f"   FAILED: {figures['summary']}"
        pytest_s = f"{figures['pytest_s']:5.1f} s" if figures["pytest_s"] is not None else "    ?"
        print(
            f"  {name:<32} {figures['wall_s']:5.1f} s ({pytest_s})   {figures['cases']:4d} cases "
            f"over {figures['operations']:2d} operations{outcome}"
        )
    print(
        f"  target <= {FUZZ_TARGET_S:g} s of pytest's time per variant, none failing   "
        f"{verdict(fuzz['pass'])}"
    )


# --- 3. /health/live throughput -------------------------------------------------------------


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
def serve(name: str, app: list[str], cwd: Path, env: dict[str, str]) -> Iterator[Server]:
    """Run one uvicorn worker for `app` on a free port, pinned to SERVER_CORE; yield it."""
    port = free_port()
    command = [
        *pinned(SERVER_CORE),
        sys.executable,
        "-m",
        "uvicorn",
        *app,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--no-access-log",
        "--log-level",
        "warning",
    ]
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
            "bare": servers.enter_context(serve("bare", ["bare_app:app"], bare_dir, env)).url,
            "service": servers.enter_context(
                serve("service", ["--factory", "app.main:create_app"], service_dir, env)
            ).url,
        }
        for url in urls.values():
            load(url, WARMUP_S)
        # Alternating cancels slow drift (thermal, other tenants) between the two.
        for _ in range(rounds):
            for name, url in urls.items():
                runs[name].append(load(url, seconds))

    summary = {name: _median_run(name_runs) for name, name_runs in runs.items()}
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


def _median_run(runs: list[LoadRun]) -> dict[str, Any]:
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


# --- 4. Authenticated database read -----------------------------------------------------------

AUTH_RATIO_TARGET = 0.15
AUTH_P99_TARGET_MS = 100.0
# At 256 connections no request may starve: every one answered 2xx within a second.
FAIR_P99_TARGET_MS = 1000.0
AUTH_CONNECTIONS = (64, 256)
CLIENT_TIMEOUT_S = 2
ME_PATH = "/api/v1/users/me"
REGISTER_PATH = "/api/v1/auth/register"
LOGIN_PATH = "/api/v1/auth/login"
LOGIN_CONNECTIONS = 4
# Argon2 is slow on purpose and runs on the server's one core, so 4 logins queue behind each
# other; a login that takes seconds is the figure being measured, not a lost request.
LOGIN_TIMEOUT_S = 30
# A run with candidates outlives the default 15-minute access token; the lifetime is one claim
# compared per request, so a longer one costs nothing. The default render limits every route
# (rate_limit_backend=memory): the limits are raised far past the load, so each request is counted
# (its cost is in the figure) and none refused.
AUTH_ENV = {
    "ACCESS_TOKEN_MINUTES": str(24 * 60),
    "RATE_LIMIT_DEFAULT": "1000000000/day",
    "RATE_LIMIT_STRICT": "100000000/day",  # login: the figure is Argon2's rate, not the limit's
}
# What the report states about each service's configuration, read from its own settings.
REPORTED_SETTINGS = (
    "database_pool_size",
    "database_max_overflow",
    "database_pool_timeout",
    "argon2_time_cost",
    "argon2_memory_cost",
    "argon2_parallelism",
)
SETTINGS_PROBE = (
    "import json, sys\n"
    "from app.core.config import get_settings\n"
    "settings = get_settings()\n"
    "print(json.dumps({name: getattr(settings, name, None) for name in sys.argv[1:]}))\n"
)
LOGIN_SCRIPT = """\
wrk.method = "POST"
wrk.body = [[{body}]]
wrk.headers["Content-Type"] = "application/json"
"""


@dataclass(frozen=True)
class BenchDatabase:
    name: str
    url: str
    server_version: str
    free_connections: int  # what max_connections leaves when the run starts


async def _admin(*statements: str) -> tuple[str, int]:
    """Run statements on the server's `postgres` database; return its version and free slots."""
    # The rendered service's driver: present wherever the service can run, and untyped.
    import asyncpg  # type: ignore[import-untyped]

    connection = await asyncpg.connect(f"postgresql://{DATABASE_SERVER}/postgres", timeout=10)
    try:
        for statement in statements:
            await connection.execute(statement)
        version = str(await connection.fetchval("SHOW server_version"))
        free = await connection.fetchval(
            "SELECT current_setting('max_connections')::int"
            " - current_setting('superuser_reserved_connections')::int"
            " - (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')"
        )
        return version.split()[0], int(free)
    finally:
        await connection.close()


@contextmanager
def bench_database() -> Iterator[BenchDatabase]:
    """A fresh database on the local PostgreSQL for this run, dropped at the end in any case."""
    name = f"bench_{secrets.token_hex(6)}"
    try:
        version, free = asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    except Exception as error:  # refused, authentication, missing driver: all mean "no database"
        message = f"could not create a database on {DATABASE_SERVER}"
        raise SetupError(message, repr(error)) from error
    try:
        yield BenchDatabase(name, f"postgresql+asyncpg://{DATABASE_SERVER}/{name}", version, free)
    finally:
        # FORCE ends the connections a server that would not stop may still hold.
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def migrate(service_dir: Path, env: dict[str, str]) -> None:
    """`alembic upgrade head` in the rendered service, as its deployment's migrate job does."""
    command = [sys.executable, "-m", "alembic", "upgrade", "head"]
    result = subprocess.run(
        command, cwd=service_dir, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    if result.returncode != 0:
        raise SetupError("migrating the bench database failed", result.stdout + result.stderr)


def check_connections(settings: dict[str, dict[str, Any]], database: BenchDatabase) -> None:
    """Refuse to start more pools than PostgreSQL has connections for.

    Every service's pool can grow to pool size + overflow while the others hold theirs idle; past
    max_connections the database refuses new ones and the service answers 500s, which would be
    measured as the service's fault.
    """
    wanted = {
        name: values["database_pool_size"] + values["database_max_overflow"]
        for name, values in settings.items()
    }
    if sum(wanted.values()) > database.free_connections:
        pools = ", ".join(f"{name} {count}" for name, count in wanted.items())
        raise SetupError(
            f"the pools need {sum(wanted.values())} connections, PostgreSQL has "
            f"{database.free_connections} free",
            f"pool size + overflow per service: {pools}; measure fewer candidates per run",
        )


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


def service_settings(service_dir: Path, env: dict[str, str]) -> dict[str, Any]:
    """REPORTED_SETTINGS as the service resolves them from env (and its .env, if it has one)."""
    output = run_probe(
        SETTINGS_PROBE,
        list(REPORTED_SETTINGS),
        service_dir,
        env,
        failure=f"could not read the settings of {service_dir}",
    )
    settings: dict[str, Any] = json.loads(output)
    return settings


# What the data-access layer costs on its own: the principal lookup users/me makes (the gate,
# a short autocommit connection, one Core select), through the rendered service's own code, in a
# loop on one core with no HTTP around it.
DATA_ACCESS_PROBE = """\
import asyncio, sys, time
from functools import partial
from types import SimpleNamespace
from sqlalchemy import select
from app.api.deps import read_connection
from app.core.config import get_settings
from app.db.engine import create_engine
from app.db.models.user import User
from app.db.repositories.users import PrincipalRepository
from app.db.retry import request_connect_retry
from app.db.session import SessionGate

async def main(count):
    settings = get_settings()
    engine = create_engine(settings)
    gate = SessionGate(settings.database_pool_size, timeout=settings.database_pool_timeout)
    app_state = SimpleNamespace(
        session_gate=gate,
        connect_retry=request_connect_retry(settings),
        read_engine=create_engine(settings, autocommit=True),
    )
    request = SimpleNamespace(state=SimpleNamespace(), app=SimpleNamespace(state=app_state))
    principals = PrincipalRepository(partial(read_connection, request))
    async with engine.connect() as connection:
        user_id = await connection.scalar(select(User.id).limit(1))

    for _ in range(count // 10):
        await principals.get(user_id)
    start = time.process_time()
    for _ in range(count):
        await principals.get(user_id)
    print((time.process_time() - start) / count * 1000)
    await app_state.read_engine.dispose()
    await engine.dispose()

try:
    import uvloop
except ImportError:
    asyncio.run(main(int(sys.argv[1])))
else:
    uvloop.run(main(int(sys.argv[1])))
"""
DATA_ACCESS_READS = 3000


def data_access_cpu_ms(service_dir: Path, env: dict[str, str]) -> float:
    """CPU milliseconds of one principal lookup, without the HTTP request."""
    output = run_probe(
        DATA_ACCESS_PROBE,
        [str(DATA_ACCESS_READS)],
        service_dir,
        env,
        failure="could not time the data-access layer alone",
        prefix=pinned(SERVER_CORE),
        timeout=120,
    )
    return round(float(output), 3)


def post_json(url: str, body: dict[str, str]) -> tuple[int, Any]:
    request = urllib.request.Request(  # noqa: S310 - loopback
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


def sign_in(base: str, credentials: dict[str, str]) -> str:
    """Register the bench user and log in; return the access token."""
    status, answer = post_json(base + REGISTER_PATH, credentials)
    if status != 201:
        raise SetupError(f"register answered {status}, not 201", str(answer))
    status, answer = post_json(base + LOGIN_PATH, credentials)
    if status != 200:
        raise SetupError(f"login answered {status}, not 200", str(answer))
    token: str = answer["access_token"]
    return token


def measure_auth(
    snapshot: Path, work: Path, seconds: int, rounds: int, candidates: dict[str, Path]
) -> dict[str, Any]:
    """Load `GET /api/v1/users/me` on the rendered service, and on candidate copies of it.

    Every server runs at once (one uvicorn worker each, pinned to SERVER_CORE) on one fresh,
    migrated database; each round loads bare FastAPI's /health/live at 64 connections, then
    users/me on each service at 64 and then at 256, so slow drift hits them all alike. The login
    rate is measured last, on the rendered service.
    """
    wrk = wrk_available()
    if wrk is None:
        return {"skipped": "wrk could not be had; this load needs headers and a POST body"}
    service_dir = work / "auth-service"
    run_copy(str(snapshot), service_dir, defaults=True, quiet=True, unsafe=False)
    services = {"rendered": service_dir, **candidates}
    credentials = {"email": "bench@example.com", "password": secrets.token_urlsafe(16)}

    with bench_database() as database, ExitStack() as servers:
        env = {**os.environ, **SERVICE_ENV, **AUTH_ENV, "DATABASE_URL": database.url}
        migrate(service_dir, env)
        settings = {name: service_settings(path, env) for name, path in services.items()}
        check_connections(settings, database)

        bare_app = serve("auth-bare", ["bare_app:app"], bare_app_dir(work), env)
        bare_server = servers.enter_context(bare_app)
        running = {
            name: servers.enter_context(
                serve(f"auth-{name}", ["--factory", "app.main:create_app"], path, env)
            )
            for name, path in services.items()
        }
        bearer = (f"Authorization: Bearer {sign_in(running['rendered'].base, credentials)}",)

        def load_me(name: str, connections: int, duration: int) -> LoadRun:
            server = running[name]
            return with_server_cpu(
                server,
                lambda: run_wrk(wrk, server.base + ME_PATH, duration, connections, headers=bearer),
            )

        def load_live() -> LoadRun:
            live = bare_server.url
            return with_server_cpu(bare_server, lambda: run_wrk(wrk, live, seconds, CONNECTIONS))

        run_wrk(wrk, bare_server.url, WARMUP_S, CONNECTIONS)
        for connections in AUTH_CONNECTIONS:
            for name in services:
                load_me(name, connections, WARMUP_S)
        bare_runs: list[LoadRun] = []
        me_runs: dict[str, dict[int, list[LoadRun]]] = {
            name: {connections: [] for connections in AUTH_CONNECTIONS} for name in services
        }
        for _ in range(rounds):
            bare_runs.append(load_live())
            for connections in AUTH_CONNECTIONS:
                for name in services:
                    me_runs[name][connections].append(load_me(name, connections, seconds))

        login = measure_login(wrk, running["rendered"].base, credentials, work, seconds)
        data_access_ms = data_access_cpu_ms(service_dir, env)

    bare = _median_run(bare_runs)
    figures = {
        name: _auth_figures(me_runs[name], bare["requests_per_s"], settings[name], path)
        for name, path in services.items()
    }
    argon2 = {key: value for key, value in settings["rendered"].items() if "argon2" in key}
    return {
        "load_generator": f"wrk -t1 --timeout {CLIENT_TIMEOUT_S}s",
        "pinned": bool(pinned(SERVER_CORE)),
        "seconds_per_run": seconds,
        "rounds": rounds,
        "database": {"name": database.name, "server_version": database.server_version},
        "bare": bare,
        "bare_runs": [asdict(run) for run in bare_runs],
        "services": figures,
        "login": {**login, "argon2": argon2},
        "data_access_cpu_ms": data_access_ms,
        "pass": figures["rendered"]["pass"],
    }


def _auth_figures(
    runs: dict[int, list[LoadRun]], bare_rps: float, settings: dict[str, Any], path: Path
) -> dict[str, Any]:
    """One service's medians at each load and its verdict on each target."""
    low, high = (_median_run(runs[connections]) for connections in AUTH_CONNECTIONS)
    ratio = low["requests_per_s"] / bare_rps
    checks = {
        "ratio": (round(ratio, 3), ratio >= AUTH_RATIO_TARGET),
        "p99_ms_at_64": (low["p99_ms"], low["p99_ms"] <= AUTH_P99_TARGET_MS),
        "p99_ms_at_256": (high["p99_ms"], high["p99_ms"] <= FAIR_P99_TARGET_MS),
        "timeouts_at_256": (high["timeouts"], high["timeouts"] == 0),
        # Stricter than "no 5xx": wrk does not tell 5xx from 4xx, and a 401 (a token that went
        # bad) would make every figure meaningless.
        "non_2xx": (low["non_2xx"] + high["non_2xx"], low["non_2xx"] + high["non_2xx"] == 0),
    }
    return {
        "path": str(path),
        "settings": settings,
        "at_64": low,
        "at_256": high,
        "runs": {str(c): [asdict(run) for run in runs[c]] for c in AUTH_CONNECTIONS},
        "checks": {name: {"value": value, "pass": ok} for name, (value, ok) in checks.items()},
        "pass": all(ok for _, ok in checks.values()),
    }


def with_server_cpu(server: Server, load: Callable[[], LoadRun]) -> LoadRun:
    """Run load and add the server's CPU milliseconds per request it answered meanwhile."""
    before = server.cpu_seconds()
    run = load()
    after = server.cpu_seconds()
    if before is not None and after is not None and run.requests:
        run.server_cpu_ms = round((after - before) * 1000 / run.requests, 3)
    return run


def measure_login(
    wrk: str, base: str, credentials: dict[str, str], work: Path, seconds: int
) -> dict[str, Any]:
    """`wrk -s login.lua`: the JSON login, LOGIN_CONNECTIONS at a time, for `seconds`."""
    script = work / "login.lua"
    script.write_text(LOGIN_SCRIPT.format(body=json.dumps(credentials)))
    run = run_wrk(
        wrk, base + LOGIN_PATH, seconds, LOGIN_CONNECTIONS, script=script, timeout_s=LOGIN_TIMEOUT_S
    )
    return {"connections": LOGIN_CONNECTIONS, "seconds": seconds, **asdict(run)}


def report_auth(auth: dict[str, Any] | None) -> None:
    if auth is None:
        print(f"GET {ME_PATH}: skipped (--skip-auth)")
        return
    if "skipped" in auth:
        print(f"GET {ME_PATH}: skipped ({auth['skipped']})")
        return
    rendered = auth["services"]["rendered"]
    pool = rendered["settings"]
    pinning = "server on core 0, load on core 1" if auth["pinned"] else "not pinned"
    print(
        f"GET {ME_PATH} with a bearer token, one uvicorn worker each, {auth['load_generator']}, "
        f"{auth['rounds']} alternating rounds of {auth['seconds_per_run']} s ({pinning}),\n"
        f"  PostgreSQL {auth['database']['server_version']} on the same machine (not pinned), "
        f"pool {pool['database_pool_size']} + {pool['database_max_overflow']} overflow; medians, "
        f"and the server's CPU time per request:"
    )
    rows = [("bare FastAPI /health/live, 64", auth["bare"])]
    rows += [(f"users/me, {c} connections", rendered[f"at_{c}"]) for c in AUTH_CONNECTIONS]
    for label, figures in rows:
        lost = f"   {figures['timeouts']} timeouts" if figures["timeouts"] else ""
        bad = f"   {figures['non_2xx']} non-2xx" if figures["non_2xx"] else ""
        print(
            f"  {label:<30} {figures['requests_per_s']:>7.0f} req/s   "
            f"p50 {figures['p50_ms']:7.1f} ms   p99 {figures['p99_ms']:7.1f} ms   "
            f"{_cpu(figures['server_cpu_ms'])}{lost}{bad}"
        )
    targets = {
        "ratio": ("users/me at 64 / bare", f">= {AUTH_RATIO_TARGET:g}", "{:.3f}"),
        "p99_ms_at_64": ("p99 at 64", f"<= {AUTH_P99_TARGET_MS:g} ms", "{:.1f} ms"),
        "p99_ms_at_256": ("p99 at 256", f"<= {FAIR_P99_TARGET_MS:g} ms", "{:.1f} ms"),
        "timeouts_at_256": (f"client timeouts (> {CLIENT_TIMEOUT_S} s) at 256", "0", "{}"),
        "non_2xx": ("non-2xx answers (so no 5xx)", "0", "{}"),
    }
    for key, (label, target, shape) in targets.items():
        check = rendered["checks"][key]
        value = shape.format(check["value"])
        print(f"  {label:<30} {value:>10}   target {target:<10} {verdict(check['pass'])}")
    bare_cpu = auth["bare"]["server_cpu_ms"]
    if bare_cpu is not None:
        budget = bare_cpu / AUTH_RATIO_TARGET
        print(
            f"  the ratio target leaves {budget:.2f} ms of CPU per request; the principal lookup "
            f"alone (gate, connection, Core select), no HTTP, takes "
            f"{auth['data_access_cpu_ms']:.2f} ms"
        )
    if len(auth["services"]) > 1:
        report_candidates(auth["services"])
    login = auth["login"]
    argon2 = login["argon2"]
    lost = f"   {login['errors']} errors" if login["errors"] else ""
    print(
        f"Login, POST {LOGIN_PATH} (JSON), Argon2 t={argon2['argon2_time_cost']} "
        f"m={argon2['argon2_memory_cost']} KiB p={argon2['argon2_parallelism']}, "
        f"{login['connections']} connections, {login['seconds']} s:\n"
        f"  {login['requests_per_s']:.1f} logins/s   p50 {login['p50_ms']:.0f} ms   "
        f"p99 {login['p99_ms']:.0f} ms{lost}   (no target: for capacity planning)"
    )


def _cpu(milliseconds: float | None) -> str:
    return f"{milliseconds:5.2f} ms CPU" if milliseconds is not None else "CPU unknown"


def report_candidates(services: dict[str, dict[str, Any]]) -> None:
    """The `--auth-candidate` copies next to the rendered service, all from the same run."""
    base = services["rendered"]["at_64"]
    print("  candidates, same run (change = req/s at 64 against rendered):")
    print(
        f"    {'':<20} {'req/s@64':>8} {'change':>7} {'CPU ms':>7} {'p50@64':>8} {'p99@64':>8}"
        f" {'req/s@256':>9} {'p99@256':>8} {'timeouts':>8} {'non-2xx':>7} {'ratio':>6}"
    )
    for name, service in services.items():
        low, high = service["at_64"], service["at_256"]
        change = (low["requests_per_s"] / base["requests_per_s"] - 1) * 100
        cpu = low["server_cpu_ms"]
        print(
            f"    {name:<20} {low['requests_per_s']:>8.0f} {change:>+6.0f}% "
            f"{cpu if cpu is not None else float('nan'):>7.2f} {low['p50_ms']:>8.1f} "
            f"{low['p99_ms']:>8.1f} {high['requests_per_s']:>9.0f} {high['p99_ms']:>8.0f} "
            f"{high['timeouts']:>8} {low['non_2xx'] + high['non_2xx']:>7} "
            f"{service['checks']['ratio']['value']:>6.3f}"
        )


# --- A rate-limited route ---------------------------------------------------------------------

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
                serve(
                    f"rate-limit-{backend}", ["--factory", "app.main:create_app"], service_dir, env
                )
            )
            _check_limited(backend, running[backend].base + LIMITED_PATH)

        def load(backend: str, duration: int) -> LoadRun:
            server = running[backend]
            url = server.base + LIMITED_PATH
            return with_server_cpu(server, lambda: run_wrk(wrk, url, duration, CONNECTIONS))

        alternate(load, runs, rounds, seconds)

    summary = {backend: _median_run(backend_runs) for backend, backend_runs in runs.items()}
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
            f"{_cpu(figures['server_cpu_ms'])}{bad}"
        )
    for backend, target in rate_limit["targets"].items():
        ratio = rate_limit["ratios"][backend]
        print(
            f"  {backend} / none {ratio:>13.3f}         target >= {target:g}   "
            f"{verdict(ratio >= target)}"
        )


# --- 7. Observability cost -------------------------------------------------------------------

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
                serve(
                    f"observability-{flavour}",
                    ["--factory", "app.main:create_app"],
                    service_dir,
                    env,
                )
            )

        def load(name: str, duration: int) -> LoadRun:
            flavour, _, path = name.partition(" ")
            server = running[flavour]
            url = server.base + path
            return with_server_cpu(server, lambda: run_wrk(wrk, url, duration, CONNECTIONS))

        alternate(load, runs, rounds, seconds)

    summary = {name: _median_run(name_runs) for name, name_runs in runs.items()}
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
            f"{_cpu(figures['server_cpu_ms'])}"
        )
    for name, ratio in observability["ratios"].items():
        target = observability["targets"][name.partition(" ")[0]]
        print(f"  {name} / off {ratio:>9.3f}   target >= {target:g}   {verdict(ratio >= target)}")


# --- Putting it together --------------------------------------------------------------------


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


def alternate(
    load: Callable[[str, int], LoadRun], runs: dict[str, list[LoadRun]], rounds: int, seconds: int
) -> None:
    """Warm each server up, then load them in turn for `rounds` rounds, so drift hits all alike."""
    for name in runs:
        load(name, WARMUP_S)
    for _ in range(rounds):
        for name in runs:
            runs[name].append(load(name, seconds))


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
    parser.add_argument(
        "--skip-auth", action="store_true", help="skip the authenticated read and the login rate"
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
        help="also load users/me on DIR, a changed copy of the rendered default service, in the "
        "same run (repeatable); settings-only changes go in DIR/.env",
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
                f"GET {ME_PATH}",
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
