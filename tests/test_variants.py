"""Each variant, rendered, passes its own checks: ruff, mypy --strict, deptry and its test suite.

The tools run from MATRIX_PYTHON, the one environment `nox -s tests` / `nox -s matrix` fills with
the union of every variant's dependencies, so no variant pays for an environment of its own.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.conftest import require_server, run_step, running_in_ci
from tests.matrix import Variant, selected_variants
from tests.rendering import render

pytestmark = pytest.mark.matrix

TEST_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
TEST_REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture(scope="session")
def mypy_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One mypy cache per xdist worker (each has its own base temp), reused by every variant.

    The rendered `app` differs between variants and is re-checked; the analysis of third-party
    packages, which is most of the time, is not.
    """
    return tmp_path_factory.mktemp("mypy-cache")


def tool_environment(mypy_cache: Path) -> dict[str, str]:
    """The outer environment (CI included) without pytest's own variables, plus mypy's cache."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    env["MYPY_CACHE_DIR"] = str(mypy_cache)
    return env


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
) -> None:
    project = render(template_snapshot, variant.answers, tmp_path / "service")
    env = tool_environment(mypy_cache)
    # What the service's README has a new user do first: write openapi.json, the contract.
    run_step([matrix_python, "-m", "app.commands.export_openapi"], project, env)

    run_step([matrix_python, "-m", "ruff", "check", "."], project, env)
    run_step([matrix_python, "-m", "ruff", "format", "--check", "."], project, env)
    # No paths: mypy checks what the service's own configuration lists, as its CI does.
    run_step([matrix_python, "-m", "mypy", "--strict"], project, env)
    run_step([matrix_python, "-m", "deptry", "--no-ansi", "."], project, env)
    if not variant.run_suite:
        return

    require_servers(variant)
    suite_env = {**env, "TEST_DATABASE_URL": TEST_DATABASE_URL, "TEST_REDIS_URL": TEST_REDIS_URL}
    output = run_step(
        [matrix_python, "-m", "pytest", "-q", "-p", "no:cacheprovider"], project, suite_env
    )

    passed = re.search(r"(\d+) passed", output)
    assert passed, f"the suite reported no passed test:\n{output}"
    assert int(passed.group(1)) > 0
    if running_in_ci():
        assert "skipped" not in output, f"the suite skipped tests under CI=true:\n{output}"
    # The fuzz test's Hypothesis state goes to the temporary directory, never the project.
    assert not (project / ".hypothesis").exists()
