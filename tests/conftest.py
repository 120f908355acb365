"""Fixtures shared by the template's tests, and the rule that CI fails where a developer skips."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import NoReturn

import pytest

from tests import rendering
from tests.matrix import Variant, selected_variants
from tests.warm import TAIL, WarmPython, shown

Render = Callable[[Mapping[str, object], Path], Path]

# The modules whose tests take minutes (the journeys, the lowest versions) or tens of seconds (each
# variant's tools and suite), most first; every other test takes about a second. pytest-xdist's
# workers start on them, so that no worker is left with a long test when the others are done.
LONGEST_FIRST = ("tests/test_journey.py", "tests/test_lowest_versions.py", "tests/test_variants.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        module = item.nodeid.partition("::")[0]
        return LONGEST_FIRST.index(module) if module in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: the order within each module stays as written


def running_in_ci() -> bool:
    """CI sets CI=true; there a missing server or tool is a broken run, not a reason to skip."""
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def skip_or_fail(reason: str) -> NoReturn:
    """Skip the test on a developer's machine; fail it under CI, where skipping would hide it."""
    if running_in_ci():
        pytest.fail(f"{reason} (CI=true, so this fails instead of skipping)", pytrace=False)
    pytest.skip(reason)


def require_server(host: str, port: int, name: str = "a server") -> None:
    """Skip (or fail under CI) unless something accepts TCP connections at host:port."""
    try:
        with socket.create_connection((host, port), timeout=2):
            return
    except OSError as error:
        skip_or_fail(f"{name} is not reachable at {host}:{port}: {error}")


@pytest.fixture(scope="session")
def matrix_python() -> str:
    """The shared environment's interpreter, which holds every variant's dependencies."""
    python = os.environ.get("MATRIX_PYTHON")
    if not python:
        skip_or_fail("MATRIX_PYTHON is not set: run these tests through `nox -s tests`")
    return python


def outer_environment() -> dict[str, str]:
    """The environment (CI included) without pytest's own variables, for the tools a test runs.

    PYTHONDONTWRITEBYTECODE goes too: what one variant's pytest compiles (its assertion rewrite of
    the plugins' modules, cached beside them in the shared environment) the next one reads back.
    """
    return {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("PYTEST_") and key != "PYTHONDONTWRITEBYTECODE"
    }


# What nox exports for its session (VIRTUAL_ENV, and with its uv backend UV_PROJECT_ENVIRONMENT
# and UV_PYTHON; uv would install into, or list, that environment instead of a service's own
# `.venv`), and PYTHONPATH, which would put another tree's modules first. A user's shell has none.
NOX_SESSION_VARIABLES = frozenset(
    {"VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT", "UV_PYTHON", "PYTHONPATH"}
)


def users_environment() -> dict[str, str]:
    """The outer environment as a user's shell has it, for the commands a user would type (`uv`,
    `make`, copier): `outer_environment` without NOX_SESSION_VARIABLES."""
    return {
        key: value for key, value in outer_environment().items() if key not in NOX_SESSION_VARIABLES
    }


# Statements run as PostgreSQL's superuser, one after the other (`postgres_admin_command`).
ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
ADMIN_SCRIPT = """\
import asyncio, sys, asyncpg
async def main():
    connection = await asyncpg.connect(sys.argv[1])
    try:
        for statement in sys.argv[2:]:
            await connection.execute(statement)
    finally:
        await connection.close()
asyncio.run(main())
"""


def postgres_admin_command(python: str, *statements: str) -> list[str]:
    """The command that runs `statements` as PostgreSQL's superuser with `python`, an interpreter
    of the shared environment (asyncpg is the postgresql variant's driver, so it has it)."""
    return [python, "-c", ADMIN_SCRIPT, ADMIN_URL, *statements]


def shared_python() -> str:
    """MATRIX_PYTHON, the shared environment's interpreter, or else this one (the tests'
    environment, which holds the same libraries when nox made it)."""
    return os.environ.get("MATRIX_PYTHON") or sys.executable


@pytest.fixture(scope="session")
def warm_python() -> Iterator[Callable[[], WarmPython]]:
    """This worker's warm interpreter (tests/warm.py) of MATRIX_PYTHON's environment (else this
    one's), started at its first use and stopped with the session. Each command it runs gets its
    own environment.
    """
    python = shared_python()
    started: list[WarmPython] = []

    def get() -> WarmPython:
        if not started:
            started.append(WarmPython(python, outer_environment()))
        return started[0]

    yield get
    for warm in started:
        warm.close()


def lint_imports_command(python: str) -> str:
    """import-linter's command beside the environment's interpreter (it has no `-m` entry)."""
    return str(Path(python).parent / "lint-imports")


@pytest.fixture(scope="session")
def template_snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The working tree as it is on disk, without .git, for copier to render from: one snapshot
    for the run, shared by pytest-xdist's workers (and so are the renders made from it)."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the run's directory, above each worker's own
    snapshot = root / "template-snapshot"
    if not snapshot.exists():
        staging = Path(tempfile.mkdtemp(dir=root, prefix="snapshotting-"))
        rendering.snapshot_template(staging)
        try:
            staging.rename(snapshot)
        except OSError:  # another worker's snapshot is in place
            shutil.rmtree(staging)
    return snapshot


@pytest.fixture(scope="module", params=selected_variants(), ids=lambda variant: variant.id)
def variant(request: pytest.FixtureRequest) -> Variant:
    """Each selected variant in turn, for a module's tests of its rendered files."""
    chosen: Variant = request.param
    return chosen


@pytest.fixture(scope="module")
def rendered(
    template_snapshot: Path, variant: Variant, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The variant rendered once for all of a module's checks."""
    service = tmp_path_factory.mktemp("service") / "service"
    return rendering.render_copy(template_snapshot, variant.answers, service)


@pytest.fixture
def render(template_snapshot: Path) -> Render:
    """`render(answers, dst)`: render the snapshot into dst with copier's public API (a copy of
    the run's one render of those answers)."""

    def render_answers(answers: Mapping[str, object], dst: Path) -> Path:
        return rendering.render_copy(template_snapshot, answers, dst)

    return render_answers


# Seconds one step in a rendered service may take: a cold mypy over pydantic and SQLAlchemy takes
# about a minute, and resolving ~100 packages from a cold cache longer.
STEP_TIMEOUT = 900


def run_step(command: list[str], cwd: Path, env: Mapping[str, str]) -> str:
    """Run one step in a rendered service; fail with its output unless it exits 0.

    The failure names the program by its file name (`python`, `uv`), not its full path.
    """
    try:
        result = subprocess.run(
            command,
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=STEP_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as expired:
        written = expired.output or ""
        if isinstance(written, bytes):
            written = written.decode(errors="replace")
        pytest.fail(
            f"`{shown(command)}` took over {STEP_TIMEOUT} s; its output ended:\n{written[-TAIL:]}",
            pytrace=False,
        )
    if result.returncode != 0:
        pytest.fail(
            f"`{shown(command)}` exited {result.returncode}:\n{result.stdout}", pytrace=False
        )
    return result.stdout
