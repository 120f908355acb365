"""Each variant, rendered, passes its own checks: ruff, mypy --strict, deptry, its layer contracts
(lint-imports) and its test suite.

Its exported OpenAPI document, the contract, is checked too: valid OpenAPI 3.1, problem errors only.

The tools run from MATRIX_PYTHON, the one environment `nox -s tests` / `nox -s matrix` fills with
the union of every variant's dependencies, so no variant pays for an environment of its own.
"""

from __future__ import annotations

import json
import os
import re
import resource
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pytest
from openapi_spec_validator import OpenAPIV31SpecValidator

from tests.conftest import (
    STEP_TIMEOUT,
    lint_imports_command,
    outer_environment,
    require_server,
    run_step,
    running_in_ci,
)
from tests.matrix import VARIANTS, Variant, covering_variants, selected_variants
from tests.rendering import render_copy
from tests.warm import WarmPython

pytestmark = pytest.mark.matrix

TEST_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
TEST_REDIS_URL = "redis://127.0.0.1:6379/0"
# The fuzz test's examples per operation and phase in most variants: a fifth of its own default,
# still on every operation the variant has, and without its coverage phase (each schema's boundary
# values). The covering variants (the default, and each answer to every question at least once)
# run it at its full depth, coverage phase included; the README says so.
MATRIX_FUZZ_EXAMPLES = "5"
# The covering variants also run each step as a user's shell does, a fresh interpreter per command;
# the others run their Python steps in forks of a warm one (tests/warm.py), unless MATRIX_WARM=off.
COVERING = {variant.id for variant in covering_variants(VARIANTS)}

Step = Callable[[list[str], Path, Mapping[str, str]], str]


@pytest.fixture(scope="session")
def mypy_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One mypy cache per xdist worker (each has its own base temp), reused by every variant.

    The rendered `app` differs between variants and is re-checked; the analysis of third-party
    packages, which is most of the time, is not.
    """
    return tmp_path_factory.mktemp("mypy-cache")


def tool_environment(mypy_cache: Path) -> dict[str, str]:
    """The outer environment (tests/conftest.py's `outer_environment`), plus mypy's cache."""
    return outer_environment() | {"MYPY_CACHE_DIR": str(mypy_cache)}


def own_cpu() -> float:
    """CPU seconds of this process and of the processes it has waited for (the fresh steps)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    waited = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + waited.ru_utime + waited.ru_stime


class StepTimings:
    """Wall and CPU seconds each step of one variant took, appended as a JSON line to
    MATRIX_TIMINGS if set.

    A step's CPU time is its processes' (with the servers its suite starts), whatever else the
    machine runs meanwhile; its wall time grows with what the other workers run beside it.
    `cpu` counts the CPU of this worker and of the steps it ran, fresh or warm.
    bench/matrix_costs.py reads the file back: per-step sums over the product, per-variant
    median and worst. Workers append whole lines, so the file may interleave variants, not lines.
    """

    def __init__(self, variant: Variant, cpu: Callable[[], float]) -> None:
        self.variant = variant
        self.cpu = cpu
        self.seconds: dict[str, float] = {}
        self.cpu_seconds: dict[str, float] = {}

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        started, cpu = time.perf_counter(), self.cpu()
        try:
            yield
        finally:
            self.seconds[name] = round(time.perf_counter() - started, 3)
            self.cpu_seconds[name] = round(self.cpu() - cpu, 3)

    def write(self) -> None:
        path = os.environ.get("MATRIX_TIMINGS")
        if not path:
            return
        record = {"variant": self.variant.id, "steps": self.seconds, "cpu": self.cpu_seconds}
        with Path(path).open("a", encoding="utf-8") as sink:
            sink.write(json.dumps(record) + "\n")


def check_openapi_document(path: Path) -> None:
    """Valid OpenAPI 3.1, whose errors are all problem details: no FastAPI HTTPValidationError."""
    document = json.loads(path.read_text())

    assert str(document["openapi"]).startswith("3.1.")
    errors = [error.message for error in OpenAPIV31SpecValidator(document).iter_errors()]
    assert not errors, errors
    text = json.dumps(document)
    assert "HTTPValidationError" not in text
    assert '"application/problem+json"' in text


def require_servers(variant: Variant) -> None:
    """Skip (fail under CI) when a server the variant's suite talks to is down.

    A question that brings in another server adds its check here.
    """
    if variant.answers["database"] == "postgresql":
        require_server("127.0.0.1", 5432, "PostgreSQL")
    if variant.answers["rate_limit_backend"] == "redis":
        require_server("127.0.0.1", 6379, "Redis")


@pytest.mark.parametrize("variant", selected_variants(), ids=lambda variant: variant.id)
def test_variant_passes_its_checks(
    variant: Variant,
    template_snapshot: Path,
    tmp_path: Path,
    matrix_python: str,
    mypy_cache: Path,
    warm_python: Callable[[], WarmPython],
) -> None:
    if variant.id in COVERING or os.environ.get("MATRIX_WARM") == "off":
        step: Step = run_step
        timings = StepTimings(variant, own_cpu)
    else:
        warm = warm_python()

        def step(command: list[str], cwd: Path, env: Mapping[str, str]) -> str:
            return warm.run_step(command, cwd, env, STEP_TIMEOUT)

        timings = StepTimings(variant, lambda: own_cpu() + warm.steps_cpu)

    check_variant(variant, template_snapshot, tmp_path, matrix_python, mypy_cache, timings, step)
    # Only a variant that passed every step is timed: a failure's early exit is not its cost.
    timings.write()


def check_variant(
    variant: Variant,
    template_snapshot: Path,
    tmp_path: Path,
    matrix_python: str,
    mypy_cache: Path,
    timings: StepTimings,
    run: Step,
) -> None:
    with timings.step("render"):
        project = render_copy(template_snapshot, variant.answers, tmp_path / "service")
    env = tool_environment(mypy_cache)
    # What the service's README has a new user do first: write openapi.json, the contract.
    with timings.step("export_openapi"):
        run([matrix_python, "-m", "app.commands.export_openapi"], project, env)
    with timings.step("openapi_check"):
        check_openapi_document(project / "openapi.json")

    with timings.step("ruff"):
        run([matrix_python, "-m", "ruff", "check", "."], project, env)
    with timings.step("format"):
        run([matrix_python, "-m", "ruff", "format", "--check", "."], project, env)
    # No paths: mypy checks what the service's own configuration lists, as its CI does.
    with timings.step("mypy"):
        run([matrix_python, "-m", "mypy", "--strict"], project, env)
    with timings.step("deptry"):
        run([matrix_python, "-m", "deptry", "--no-ansi", "."], project, env)
    with timings.step("lint_imports"):
        run([lint_imports_command(matrix_python)], project, env)
    if not variant.run_suite:
        return

    require_servers(variant)
    suite_env = {**env, "TEST_DATABASE_URL": TEST_DATABASE_URL, "TEST_REDIS_URL": TEST_REDIS_URL}
    if variant.id not in COVERING:
        # FUZZ_EXAMPLES and FUZZ_COVERAGE set outside, for a deeper or quicker run of the whole
        # matrix, win.
        suite_env.setdefault("FUZZ_EXAMPLES", MATRIX_FUZZ_EXAMPLES)
        suite_env.setdefault("FUZZ_COVERAGE", "off")
    with timings.step("suite"):
        output = run(
            # Verbose: a suite that runs out of time shows which test it was in (tests/warm.py).
            [matrix_python, "-m", "pytest", "-v", "-p", "no:cacheprovider"],
            project,
            suite_env,
        )

    passed = re.search(r"(\d+) passed", output)
    assert passed, f"the suite reported no passed test:\n{output}"
    assert int(passed.group(1)) > 0
    if running_in_ci():
        assert "skipped" not in output, f"the suite skipped tests under CI=true:\n{output}"
    # The fuzz test's Hypothesis state goes to the temporary directory, never the project.
    assert not (project / ".hypothesis").exists()
