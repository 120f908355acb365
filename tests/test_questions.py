"""The questionnaire: defaults render, derived answers, and every refusal copier.yml makes."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import yaml
from copier import run_copy

from tests.conftest import Render
from tests.rendering import ROOT


def copier_settings() -> dict[str, object]:
    settings: dict[str, object] = yaml.safe_load((ROOT / "copier.yml").read_text())
    return settings


def test_defaults_render(render: Render, tmp_path: Path) -> None:
    dst = render({}, tmp_path / "service")

    project = tomllib.loads((dst / "pyproject.toml").read_text())["project"]
    assert project["name"] == "example-service"


def test_slug_is_derived_from_the_name(render: Render, tmp_path: Path) -> None:
    dst = render({"project_name": "My Cool API"}, tmp_path / "service")

    answers = yaml.safe_load((dst / ".copier-answers.yml").read_text())
    assert answers["project_slug"] == "my-cool-api"
    assert tomllib.loads((dst / "pyproject.toml").read_text())["project"]["name"] == "my-cool-api"


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        pytest.param(
            {"project_slug": "Bad_Slug"}, "project_slug must be lowercase", id="slug-case"
        ),
        pytest.param(
            {"project_slug": "1abc"},
            "project_slug must be .* starting with a letter",
            id="slug-digit-first",
        ),
        pytest.param(
            {"project_slug": "a--b"}, "project_slug must be .*single dashes", id="slug-dashes"
        ),
        pytest.param(
            {"project_slug": "abc-"},
            "project_slug must be .*not ending with a dash",
            id="slug-trailing-dash",
        ),
        pytest.param(
            {"project_name": "123 API"}, 'starting with a letter .*got "123-api"', id="derived-slug"
        ),
        pytest.param(
            {"author_email": "nope"}, "author_email must look like name@example.com", id="email"
        ),
        pytest.param({"project_name": ""}, "project_name must not be empty", id="empty-name"),
        pytest.param({"project_name": "   "}, "project_name must not be empty", id="blank-name"),
        pytest.param({"database": "mysql"}, "Invalid choice for 'database'", id="unknown-database"),
        pytest.param(
            {"database": "none", "auth": "jwt"},
            "auth=jwt needs a database .*database=postgresql or database=sqlite, or auth=none",
            id="jwt-without-database",
        ),
    ],
)
def test_refused_answers_write_nothing(
    render: Render, tmp_path: Path, answers: dict[str, object], message: str
) -> None:
    dst = tmp_path / "service"

    # copier raises a plain ValueError naming the question before it renders a single file.
    with pytest.raises(ValueError, match=message):
        render(answers, dst)

    assert not dst.exists() or not any(dst.iterdir())


def test_answers_file_records_the_answers(render: Render, tmp_path: Path) -> None:
    given = {"project_name": "Billing API", "database": "sqlite", "python_version": "3.12"}

    dst = render(given, tmp_path / "service")

    recorded = yaml.safe_load((dst / ".copier-answers.yml").read_text())
    assert {key: recorded[key] for key in given} == given
    assert recorded["project_slug"] == "billing-api"
    assert "_src_path" in recorded


@pytest.mark.parametrize("database", ["postgresql", "sqlite", "none"])
def test_message_after_copy_lists_next_steps(
    template_snapshot: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], database: str
) -> None:
    assert copier_settings().get("_message_after_copy")

    run_copy(
        str(template_snapshot),
        tmp_path / "service",
        data={"database": database},
        defaults=True,
        vcs_ref=None,
    )

    printed = capsys.readouterr()
    message = printed.out + printed.err
    assert "uv sync" in message
    assert "uv run pytest" in message
    assert ("alembic upgrade head" in message) == (database != "none")


@pytest.mark.parametrize(("database", "auth"), [("postgresql", "jwt"), ("none", "none")])
def test_auth_defaults_to_jwt_only_with_a_database(
    render: Render, tmp_path: Path, database: str, auth: str
) -> None:
    dst = render({"database": database}, tmp_path / "service")

    assert yaml.safe_load((dst / ".copier-answers.yml").read_text())["auth"] == auth
    assert (dst / "app/core/security.py").exists() == (auth == "jwt")
