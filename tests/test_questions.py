"""The questionnaire: defaults render, derived answers, and every refusal copier.yml makes."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

import jinja2
import pytest
import yaml
from copier import run_copy

from tests.conftest import Render
from tests.prompt import Prompt, copier_command, next_steps
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
            {"project_slug": "Bad_Slug"},
            "'project_slug': use only a-z, 0-9 and dashes",
            id="slug-case",
        ),
        pytest.param(
            {"project_slug": "1abc"},
            "'project_slug': must start with a letter",
            id="slug-digit-first",
        ),
        pytest.param(
            {"project_slug": "a--b"}, "'project_slug': must not have two dashes", id="slug-dashes"
        ),
        pytest.param(
            {"project_slug": "abc-"},
            "'project_slug': must not end with a dash",
            id="slug-trailing-dash",
        ),
        pytest.param(
            {"project_name": "123 API"},
            "'project_slug': must start with a letter",
            id="derived-slug",
        ),
        pytest.param(
            {"author_email": "nope"}, "'author_email': must look like name@example.com", id="email"
        ),
        pytest.param({"project_name": ""}, "project_name must not be empty", id="empty-name"),
        pytest.param({"project_name": "   "}, "project_name must not be empty", id="blank-name"),
        pytest.param({"database": "mysql"}, "Invalid choice for 'database'", id="unknown-database"),
        pytest.param(
            {"database": "none", "auth": "jwt"},
            "'auth': jwt needs database=postgresql or sqlite",
            id="jwt-without-database",
        ),
        pytest.param(
            {"database": "none", "auth": "none", "jobs": "taskiq"},
            r"'jobs': taskiq needs database=postgresql\|sqlite",
            id="jobs-without-database",
        ),
        pytest.param({"jobs": "celery"}, "Invalid choice for 'jobs'", id="unknown-jobs"),
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


DATABASE_STEPS = {
    "postgresql": ["make db", "make migrate"],
    "sqlite": ["make migrate"],
    "none": [],
}


@pytest.mark.parametrize("database", ["postgresql", "sqlite", "none"])
def test_message_after_copy_lists_every_step_in_order(
    template_snapshot: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], database: str
) -> None:
    destination = tmp_path / "service"

    run_copy(
        str(template_snapshot),
        destination,
        data={"database": database},
        defaults=True,
        vcs_ref=None,
    )

    printed = capsys.readouterr()
    assert next_steps(printed.out + printed.err) == [
        f"cd {destination}",
        "uv sync",
        "cp .env.example .env",
        *DATABASE_STEPS[database],
        "make openapi",
        'git init && git add -A && git commit -q -m "Generate from the template"',
        "make run",
    ]


@pytest.mark.parametrize("database", ["postgresql", "sqlite", "none"])
def test_message_after_update_says_how_to_find_conflicts(database: str) -> None:
    message = str(copier_settings()["_message_after_update"])
    rendered = (
        jinja2.Environment()  # noqa: S701 - a message for a terminal, not HTML
        .from_string(message)
        .render(
            database=database, project_name="Example Service", _copier_answers={"_src_path": "src"}
        )
    )

    steps = next_steps(rendered)
    assert steps[:3] == ["git status", "git diff --check", "uv sync"]
    assert steps[3:-3] == DATABASE_STEPS[database]
    assert steps[-3:-1] == ["make openapi", "make check"]
    assert "CHANGELOG.md" in rendered


@pytest.mark.parametrize(("database", "auth"), [("postgresql", "jwt"), ("sqlite", "jwt")])
def test_auth_defaults_to_jwt_with_a_database(
    render: Render, tmp_path: Path, database: str, auth: str
) -> None:
    dst = render({"database": database}, tmp_path / "service")

    assert yaml.safe_load((dst / ".copier-answers.yml").read_text())["auth"] == auth
    assert (dst / "app/core/security.py").exists()


def answer_defaults_until(prompt: Prompt, help_text: str) -> None:
    """Accept the default of every question before the one whose help starts with help_text."""
    for question in QUESTIONS:
        prompt.question(question)
        if question.startswith(help_text):
            return
        prompt.accept()
    raise AssertionError(f"no question starts with {help_text!r}")


QUESTIONS = [
    str(settings["help"]) for key, settings in copier_settings().items() if not key.startswith("_")
]


def test_the_prompt_does_not_ask_auth_or_jobs_without_a_database(
    template_snapshot: Path, tmp_path: Path
) -> None:
    # Before `when:` on auth, the prompt offered jwt after database=none and rendered a service
    # that does not import.
    prompt = Prompt("copy", str(template_snapshot), "service", cwd=tmp_path)
    answer_defaults_until(prompt, "Database behind the service")
    prompt.choose(2)  # No database

    prompt.question("Where the rate limiter keeps its counters")
    assert "Users with JWT" not in prompt.screen()
    for _ in range(4):  # the rate limiter, sentry, metrics, tracing: their defaults
        prompt.accept()
    assert prompt.finish() == 0, prompt.screen()

    answers = yaml.safe_load((tmp_path / "service/.copier-answers.yml").read_text())
    assert answers["database"] == "none"
    assert "auth" not in answers, "a question that is not asked is not recorded"
    assert "jobs" not in answers, "nor is the jobs question, which needs a database too"
    assert not (tmp_path / "service/app/core/security.py").exists()


@pytest.mark.parametrize(
    ("answer", "refusal"),
    [
        ("auth=jwt", "'auth': jwt needs database=postgresql or sqlite"),
        ("jobs=taskiq", "'jobs': taskiq needs database=postgresql|sqlite"),
    ],
)
def test_the_command_line_refuses_what_needs_a_database_without_one(
    template_snapshot: Path, tmp_path: Path, answer: str, refusal: str
) -> None:
    destination = tmp_path / "service"

    refused = subprocess.run(
        [
            copier_command(),
            "copy",
            "--defaults",
            "--data",
            "database=none",
            "--data",
            answer,
            str(template_snapshot),
            str(destination),
        ],
        capture_output=True,
        text=True,
        check=False,
    )

    assert refused.returncode != 0
    # copier's CLI prints the ValueError's traceback; the refusal is its last line.
    last_line = refused.stderr.strip().splitlines()[-1]
    assert last_line.endswith(refusal), refused.stderr
    assert not destination.exists()


def test_helps_and_refusals_fit_an_80_column_terminal() -> None:
    # The prompt draws a question's help, and a refusal after copier's prefix, on one line each
    # and cuts what does not fit (a help of 122 characters lost its last 45).
    for key, settings in copier_settings().items():
        if key.startswith("_"):
            continue
        assert len(str(settings["help"])) <= 76, f"{key}'s help is longer than 76 characters"
        for refusal in re.split(r"\{%.*?%\}", str(settings.get("validator", ""))):
            shown = f"Validation error for question '{key}': {refusal.strip()}"
            assert len(shown) <= 79, f"{shown!r} does not fit in 80 columns"


def test_a_refusal_shows_whole_in_the_prompt(template_snapshot: Path, tmp_path: Path) -> None:
    prompt = Prompt("copy", str(template_snapshot), "service", cwd=tmp_path, columns=80)
    answer_defaults_until(prompt, "Short machine name")
    prompt.type("Bad_Slug")

    prompt.wait_for("use only a-z, 0-9 and dashes")
    prompt.type("good-slug")
    prompt.question("One sentence")
    prompt.child.close(force=True)
    assert not (tmp_path / "service").exists()
