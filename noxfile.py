"""Every developer task on the template: `nox -l` lists them, `nox` runs lint and tests."""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
import tomllib
import urllib.request
from pathlib import Path

import nox

nox.options.default_venv_backend = "uv"
nox.options.sessions = ["lint", "tests"]

ROOT = Path(__file__).parent
PYPROJECT = nox.project.load_toml(ROOT / "pyproject.toml")
# One worker more than the cores: a variant's suite spends about a third of its time waiting
# (on PostgreSQL, Redis, the processes it starts and the timeouts it tests), which the extra worker
# fills. On 2 cores, 12 variants (figures in the CHANGELOG): 2 workers 196 and 227 s, 3 workers
# 162, 189 and 195 s, 4 workers 215 s. worksteal: the tests' lengths range from milliseconds to a
# minute, so a worker that runs out takes another's queue instead of waiting for it.
WORKERS = ("-n", str(len(os.sched_getaffinity(0)) + 1), "--dist", "worksteal")


def matrix_env(session: nox.Session) -> str:
    """Fill the session with the test tools and the union of every variant's dependencies.

    Renders each matrix variant's pyproject.toml, reads its `[project].dependencies` and
    `[dependency-groups].dev`, installs the union once, and returns the interpreter that
    tests/test_variants.py runs the variants' tools with (MATRIX_PYTHON).
    """
    # Bytecode compiled at install (uv compiles only what it installs, so both installs ask) is read
    # by every process of every variant, each importing FastAPI, SQLAlchemy, pytest and
    # schemathesis several times; under PYTHONDONTWRITEBYTECODE each would compile them again.
    session.install("--compile-bytecode", *nox.project.dependency_groups(PYPROJECT, "test"))
    with tempfile.TemporaryDirectory() as rendered:
        # Only pyproject.toml: the dependencies are all this reads of each variant.
        session.run(
            "python", "-m", "tests.rendering", "--matrix", "--only", "pyproject.toml", rendered
        )
        union: set[str] = set()
        for pyproject in Path(rendered).glob("*/pyproject.toml"):
            declared = tomllib.loads(pyproject.read_text())
            union.update(declared["project"]["dependencies"])
            union.update(declared.get("dependency-groups", {}).get("dev", []))
    requirements = sorted(union)
    session.log("Shared environment of every variant: " + ", ".join(requirements))
    session.install("--compile-bytecode", *requirements)
    return str(Path(session.bin) / "python")


@nox.session
def tests(session: nox.Session) -> None:
    """Run the fast tests of the questions and renders, and the full matrix (extra args: pytest)."""
    python = matrix_env(session)
    # pytest's exit 5 (no test collected) is not 0, so nox fails on it as on any other failure.
    # The 30 slowest tests close the log, to show where the run's time went.
    session.run(
        "pytest",
        *WORKERS,
        "--durations=30",
        "tests",
        *session.posargs,
        env={"MATRIX_PYTHON": python},
    )


@nox.session
def matrix(session: nox.Session) -> None:
    """Lint, type check and test the variants; `nox -s matrix -- database=sqlite` picks some."""
    python = matrix_env(session)
    filters = [arg for arg in session.posargs if "=" in arg and not arg.startswith("-")]
    pytest_args = [arg for arg in session.posargs if arg not in filters]
    session.run(
        "pytest",
        *WORKERS,
        "-m",
        "matrix",
        "tests",
        *pytest_args,
        env={"MATRIX_PYTHON": python, "MATRIX_FILTER": " ".join(filters)},
    )


@nox.session
def lint(session: nox.Session) -> None:
    """Ruff over this repo's own Python; the template is checked as rendered, by the matrix."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "lint"))
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def demo(session: nox.Session) -> None:
    """Render a SQLite service into ./demo-service (or `-- PATH`); install, test and migrate it.

    It is rendered with copier's command line from this repository's last commit, as a user
    renders from a release: `.copier-answers.yml` names this checkout and that commit, so
    `copier update --vcs-ref HEAD` brings later commits in. Uncommitted changes are not in it
    (`nox -s matrix` tests those).
    """
    target = session.posargs[0] if session.posargs else "demo-service"
    destination = Path(target).resolve()
    if destination.exists() and any(destination.iterdir()):
        session.error(f"{destination} is not empty: remove it or pass another path after --")
    session.install(*nox.project.dependency_groups(PYPROJECT, "test"))
    head = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    if subprocess.run(["git", "-C", str(ROOT), "diff", "--quiet", "HEAD"], check=False).returncode:
        session.warn("Uncommitted changes are not in the demo: it renders the last commit.")
    copy = ["copier", "copy", "--defaults", "--vcs-ref", head, "--data", "database=sqlite"]
    session.run(*copy, str(ROOT), str(destination))

    def uv(*args: str) -> None:
        # The demo gets its own .venv, as a user's checkout would: nox points uv at the session's
        # environment through these variables. VIRTUAL_ENV names the demo's .venv instead (uv
        # warns on every run when it names another), UV_PROJECT_ENVIRONMENT and UV_PYTHON go.
        own = {
            "VIRTUAL_ENV": str(destination / ".venv"),
            "UV_PROJECT_ENVIRONMENT": None,
            "UV_PYTHON": None,
        }
        session.run("uv", *args, env=own, external=True)

    uv("sync", "--directory", str(destination))
    uv("run", "--directory", str(destination), "python", "-m", "app.commands.export_openapi")
    # As `make test` runs it: on every core.
    uv("run", "--directory", str(destination), "pytest", "-n", "auto", "--dist", "worksteal")
    uv("run", "--directory", str(destination), "alembic", "upgrade", "head")
    _serve_once(session, destination)
    start = "make run"
    session.log(f"Ready. Start it with: cd {target} && {start}")


def _serve_once(session: nox.Session, project: Path, port: int = 8765) -> None:
    """Start the rendered service as a user would, and check that it answers its probes."""
    uvicorn = str(project / ".venv/bin/uvicorn")
    server = subprocess.Popen(
        [uvicorn, "--factory", "app.main:create_app", "--port", str(port)], cwd=project
    )
    try:
        for path in ("/health/live", "/health/ready", "/api/v1/info"):
            body = _get_when_up(f"http://127.0.0.1:{port}{path}", server)
            session.log(f"GET {path} -> 200 {body}")
    finally:
        server.terminate()
        server.wait(timeout=10)


def _get_when_up(url: str, server: subprocess.Popen[bytes], seconds: float = 20) -> str:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback
                return response.read().decode()
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@nox.session
def bench(session: nox.Session) -> None:
    """Time rendering and the rendered service (bench/bench.py; extra args go to it).

    The benchmark serves a rendered service and, with `-- --matrix`, runs the matrix, so it
    needs the same shared environment as the tests.
    """
    python = matrix_env(session)
    session.install(*nox.project.dependency_groups(PYPROJECT, "bench"))
    session.run("python", "bench/bench.py", *session.posargs, env={"MATRIX_PYTHON": python})
    # Cold start and memory per worker of each database variant, served as the image serves it.
    session.run("python", "bench/deploy.py", env={"MATRIX_PYTHON": python})
