"""The CI workflows: the one each service gets, and the template's own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import Render
from tests.matrix import FEATURE_AXES, VARIANTS, Variant
from tests.rendering import ROOT


def load(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(path.read_text())
    return loaded


def step_commands(job: dict[str, Any]) -> str:
    return "\n".join(step.get("run", "") for step in job["steps"])


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda variant: variant.id)
def test_the_service_workflow_fits_the_answers(
    variant: Variant, render: Render, tmp_path: Path
) -> None:
    project = render(variant.answers, tmp_path / "service")
    workflow = load(project / ".github/workflows/ci.yml")
    check, image = workflow["jobs"]["check"], workflow["jobs"]["image"]

    commands = step_commands(check)
    for command in (
        "ruff check",
        "ruff format --check",
        "mypy --strict",
        "export_openapi --check",
        "pytest",
        "pip-audit",
    ):
        assert command in commands
    assert check["env"]["CI"] == "true"
    services = check.get("services", {})
    assert ("postgres" in services) == (variant.answers["database"] == "postgresql")
    uses_redis = (
        variant.answers["rate_limit_backend"] == "redis" or variant.answers["jobs"] == "taskiq"
    )
    assert ("redis" in services) == uses_redis
    assert ("TEST_REDIS_URL" in check["env"]) == uses_redis
    setup_uv = next(step for step in check["steps"] if "setup-uv" in step.get("uses", ""))
    assert setup_uv["with"]["python-version"] == variant.answers["python_version"]
    assert any("docker/build-push-action" in step.get("uses", "") for step in image["steps"])


def test_the_template_workflow_shards_every_database() -> None:
    workflow = load(ROOT / ".github/workflows/template.yml")

    shards = workflow["jobs"]["matrix"]["strategy"]["matrix"]["database"]
    assert shards == FEATURE_AXES["database"]
    assert "schedule" in workflow[True]  # PyYAML reads the bare key `on` as True
    assert "update" in step_commands(workflow["jobs"]["update-from-release"])


def test_the_template_workflow_walks_each_database_answers_journey() -> None:
    workflow = load(ROOT / ".github/workflows/template.yml")

    journey = workflow["jobs"]["journey"]
    assert journey["strategy"]["matrix"]["database"] == FEATURE_AXES["database"]
    assert "-m journey -k ${{ matrix.database }}" in step_commands(journey)
    assert "not journey" in step_commands(workflow["jobs"]["fast"])
