"""The variant with every feature on passes its checks at the lowest versions it allows.

Each lower bound in template/pyproject.toml.jinja is a claim that the service works there. uv's
`--resolution lowest-direct` installs every direct dependency at its floor (the rest at their
newest) into the rendered service's own virtual environment, as a user's `uv sync` would, and
the service's own checks run in it. A bound the checks cannot pass at is raised, not kept.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.conftest import require_server, run_step, running_in_ci, skip_or_fail, users_environment
from tests.rendering import render_copy

pytestmark = pytest.mark.lowest_versions

ALL_FEATURES: dict[str, object] = {
    "database": "postgresql",
    "auth": "jwt",
    "rate_limit_backend": "redis",
    "sentry": True,
    "metrics": True,
    "tracing": True,
    "jobs": "taskiq",
}
TEST_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
TEST_REDIS_URL = "redis://127.0.0.1:6379/0"


def service_environment(tmp_path: Path) -> dict[str, str]:
    """A user's environment (`users_environment`: without pytest's, nox's and
    PYTHONDONTWRITEBYTECODE), with the service's mypy cache and test servers."""
    env = users_environment()
    env["MYPY_CACHE_DIR"] = str(tmp_path / "mypy-cache")
    env["TEST_DATABASE_URL"] = TEST_DATABASE_URL
    env["TEST_REDIS_URL"] = TEST_REDIS_URL
    return env


def declared_floors(pyproject: Path) -> dict[str, Version]:
    """Each direct dependency (runtime and dev) with the version its `>=` bound names."""
    declared = tomllib.loads(pyproject.read_text())
    requirements = [
        *declared["project"]["dependencies"],
        *declared["dependency-groups"]["dev"],
    ]
    floors = {}
    for text in requirements:
        requirement = Requirement(text)
        lower = [spec.version for spec in requirement.specifier if spec.operator == ">="]
        assert lower, f"{text} has no lower bound"
        floors[canonicalize_name(requirement.name)] = Version(lower[0])
    return floors


def test_every_feature_passes_its_checks_at_the_lowest_versions(
    template_snapshot: Path, tmp_path: Path
) -> None:
    uv = shutil.which("uv")
    if uv is None:
        skip_or_fail("uv is not on PATH: it resolves the service at its lowest versions")
    require_server("127.0.0.1", 5432, "PostgreSQL")
    require_server("127.0.0.1", 6379, "Redis")
    project = render_copy(template_snapshot, ALL_FEATURES, tmp_path / "service")
    env = service_environment(tmp_path)

    run_step([uv, "sync", "--resolution", "lowest-direct"], project, env)
    # uv prints which environment it lists on stderr, and run_step's output holds both streams.
    listing = subprocess.run(
        [uv, "pip", "list", "--python", str(project / ".venv"), "--format", "json"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    installed = {
        canonicalize_name(package["name"]): Version(package["version"])
        for package in json.loads(listing.stdout)
    }
    # A floor that no release matches exactly (a typo, a yanked version) would be resolved to
    # something higher and tested there: every direct dependency must sit on its floor.
    above = {
        name: f"declared >={floor}, installed {installed.get(name)}"
        for name, floor in declared_floors(project / "pyproject.toml").items()
        if installed.get(name) != floor
    }
    assert not above, f"not installed at their lower bounds: {above}"

    def service(*command: str) -> str:
        return run_step([uv, "run", "--no-sync", *command], project, env)

    service("python", "-m", "app.commands.export_openapi")
    service("ruff", "check", ".")
    service("ruff", "format", "--check", ".")
    service("mypy", "--strict")
    service("deptry", "--no-ansi", ".")
    service("lint-imports")
    output = service("pytest", "-q", "-p", "no:cacheprovider")

    passed = re.search(r"(\d+) passed", output)
    assert passed, f"the suite reported no passed test:\n{output}"
    assert int(passed.group(1)) > 0
    if running_in_ci():
        assert "skipped" not in output, f"the suite skipped tests under CI=true:\n{output}"
