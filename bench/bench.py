"""Benchmark of the template: render time, matrix wall time and the rendered service's throughput.

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
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
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
from tests.rendering import snapshot_template  # noqa: E402

RENDER_TARGET_S = 1.0
MATRIX_TARGET_S = 20 * 60
RATIO_TARGET = 0.85

RENDER_RUNS = 5
WARMUP_S = 2
CONNECTIONS = 64
STARTUP_TIMEOUT_S = 30
LIVE_PATH = "/health/live"

# The service as production runs it. Production refuses the default DATABASE_URL; liveness never
# touches the database, so the URL only has to be acceptable, not reachable.
SERVICE_ENV = {
    "ENVIRONMENT": "production",
    "DATABASE_URL": "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres",
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


class ServerStartError(RuntimeError):
    """A server under test exited or never answered 200; carries what it wrote to stderr."""

    def __init__(self, name: str, reason: str, output: str) -> None:
        super().__init__(f"the {name} server {reason}")
        self.output = output


@dataclass
class LoadRun:
    """One load-generator run against one server."""

    requests_per_s: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int


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
    env = {**os.environ, "MATRIX_PYTHON": sys.executable}
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


@contextmanager
def serve(name: str, app: list[str], cwd: Path, env: dict[str, str]) -> Iterator[str]:
    """Run one uvicorn worker for `app` on a free port, pinned to SERVER_CORE; yield its URL."""
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
        yield url
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
    errors = int(bad_status.group(1)) if bad_status else 0
    if socket_errors:
        errors += sum(int(n) for n in socket_errors.groups())
    return LoadRun(
        requests_per_s=float(find(r"Requests/sec:\s+([\d.]+)").group(1)),
        p50_ms=_milliseconds(*p50.groups()),
        p99_ms=_milliseconds(*p99.groups()),
        requests=int(find(r"(\d+) requests in").group(1)),
        errors=errors,
    )


def wrk_load(wrk: str) -> LoadGenerator:
    """Load with `wrk -t1 -c64 --latency`, pinned to LOAD_CORE."""

    def load(url: str, seconds: int) -> LoadRun:
        command = [*pinned(LOAD_CORE), wrk, "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency"]
        result = subprocess.run(
            [*command, url], capture_output=True, text=True, timeout=seconds + 30, check=True
        )
        return parse_wrk(result.stdout)

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


def measure_http(snapshot: Path, work: Path, seconds: int, rounds: int) -> dict[str, Any]:
    """Alternate bare FastAPI and the rendered service under the same load, `rounds` times each."""
    service_dir = work / "service"
    run_copy(str(snapshot), service_dir, defaults=True, quiet=True, unsafe=False)
    bare_dir = work / "bare"
    bare_dir.mkdir()
    (bare_dir / "bare_app.py").write_text(BARE_APP)

    wrk = wrk_available()
    load = wrk_load(wrk) if wrk else python_load
    generator = f"wrk -t1 -c{CONNECTIONS}" if wrk else f"asyncio fallback, {CONNECTIONS} conns"
    if not wrk:
        print("wrk could not be had: loading with the asyncio fallback (Python, far slower)")

    env = {**os.environ, **SERVICE_ENV}
    runs: dict[str, list[LoadRun]] = {"bare": [], "service": []}
    with ExitStack() as servers:
        urls = {
            "bare": servers.enter_context(serve("bare", ["bare_app:app"], bare_dir, env)),
            "service": servers.enter_context(
                serve("service", ["--factory", "app.main:create_app"], service_dir, env)
            ),
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
    """Median over the rounds of each figure, and the total of errors."""
    return {
        "requests_per_s": round(statistics.median(run.requests_per_s for run in runs), 1),
        "p50_ms": round(statistics.median(run.p50_ms for run in runs), 2),
        "p99_ms": round(statistics.median(run.p99_ms for run in runs), 2),
        "errors": sum(run.errors for run in runs),
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


# --- Putting it together --------------------------------------------------------------------


def environment() -> dict[str, Any]:
    """What the figures depend on: interpreter, cores, load at the start, server packages."""
    packages = ("copier", "fastapi", "starlette", "uvicorn", "pydantic", "structlog")
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


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python bench/bench.py", description=__doc__)
    parser.add_argument("--matrix", action="store_true", help="also time the full matrix (slow)")
    parser.add_argument(
        "--duration", type=int, default=10, metavar="SECONDS", help="seconds per load run"
    )
    parser.add_argument("--rounds", type=int, default=3, metavar="N", help="load runs per server")
    parser.add_argument("--skip-http", action="store_true", help="skip the throughput comparison")
    args = parser.parse_args(argv)
    if args.duration < 1 or args.rounds < 1:
        parser.error("--duration and --rounds must be at least 1")
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

    latest = RESULTS / "latest.json"
    latest.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nResults: {latest.relative_to(ROOT)}")
    return status


if __name__ == "__main__":
    sys.exit(main())
