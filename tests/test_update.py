"""`copier update`: template changes reach a service, the user's edits stay, answers can change.

Each test builds a throwaway git repository of the template (copier versions a template by its
git tags), renders a service from one tag, commits it as a user would, and updates it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from copier import run_copy, run_update

from tests.conftest import require_server
from tests.prompt import copier_command, next_steps
from tests.rendering import ROOT, snapshot_template

CONFLICT_MARKER = re.compile(r"^(<<<<<<<|>>>>>>>) ", re.MULTILINE)
TEST_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


def git(cwd: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def commit_all(repo: Path, message: str, tag: str | None = None) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    if tag:
        git(repo, "tag", tag)


def template_repo(path: Path, tag: str) -> Path:
    """A git repository of the working tree's template, committed and tagged `tag`."""
    snapshot_template(path)
    git(path, "init", "-q", "-b", "main")
    commit_all(path, "template", tag)
    return path


def new_service(template: Path, destination: Path, ref: str, **answers: object) -> Path:
    """Render at `ref` and commit the result, as a user starting a service would."""
    run_copy(
        str(template),
        destination,
        data={"project_name": "Example Service", **answers},
        defaults=True,
        vcs_ref=ref,
        quiet=True,
        unsafe=False,
    )
    git(destination, "init", "-q", "-b", "main")
    commit_all(destination, "Generate the service")
    return destination


def update(service: Path, ref: str, **answers: object) -> None:
    run_update(
        service,
        data=answers,
        defaults=True,
        overwrite=True,
        vcs_ref=ref,
        conflict="inline",
        quiet=True,
        unsafe=False,
    )


def conflicted_files(project: Path) -> list[str]:
    return sorted(
        str(path.relative_to(project))
        for path in project.rglob("*")
        if path.is_file()
        and ".git" not in path.parts
        and (path.suffix == ".rej" or CONFLICT_MARKER.search(path.read_text(errors="ignore")))
    )


def answers_of(project: Path) -> dict[str, object]:
    loaded: dict[str, object] = yaml.safe_load((project / ".copier-answers.yml").read_text())
    return loaded


def replace_in(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} is not in {path}"
    path.write_text(text.replace(old, new, 1))


USER_ROUTER = '''"""Orders: a resource the user added."""

from app.api.v1 import ResourceRouter

router = ResourceRouter("orders")
'''


def test_update_applies_template_changes_and_keeps_user_edits(tmp_path: Path) -> None:
    template = template_repo(tmp_path / "template", "1.0.0")
    service = new_service(template, tmp_path / "service", "1.0.0", database="sqlite")

    # The user adds a resource and changes a setting in a file the template owns.
    (service / "app/api/v1/orders.py").write_text(USER_ROUTER)
    replace_in(service / "app/core/config.py", "default=1_048_576", "default=4_194_304")
    commit_all(service, "Add orders; allow larger bodies")

    # The template changes a file the user did not touch, and gains a file.
    replace_in(
        template / "template/app/core/request_context.py",
        "def current_request_id() -> str | None:\n",
        'def current_request_id() -> str | None:\n    """The ID, or None outside a request."""\n',
    )
    (template / "template/app/core/clock.py").write_text('"""Time, in one place."""\n')
    commit_all(template, "Template improvements", "1.1.0")

    update(service, "1.1.0")

    assert conflicted_files(service) == []
    assert (service / "app/api/v1/orders.py").read_text() == USER_ROUTER
    assert "default=4_194_304" in (service / "app/core/config.py").read_text()
    assert "outside a request" in (service / "app/core/request_context.py").read_text()
    assert (service / "app/core/clock.py").exists()
    assert answers_of(service)["_commit"] == "1.1.0"


def test_the_message_after_update_finds_the_conflicts_copier_leaves(tmp_path: Path) -> None:
    template = template_repo(tmp_path / "template", "1.0.0")
    service = new_service(template, tmp_path / "service", "1.0.0", database="none")
    with (service / "README.md").open("a") as readme:
        readme.write("Our on-call rota.\n")
    commit_all(service, "Document the rota")
    with (template / "template/README.md.jinja").open("a") as readme:
        readme.write("Template news.\n")
    commit_all(template, "README news", "1.1.0")

    # copier's own command line, as the user runs it: it exits 0 and names no conflicted file.
    updated = subprocess.run(
        [copier_command(), "update", "--defaults"],
        cwd=service,
        capture_output=True,
        text=True,
        check=True,
    )

    steps = next_steps(updated.stdout + updated.stderr)
    assert steps[:2] == ["git status", "git diff --check"]
    found = subprocess.run(["git", "diff", "--check"], cwd=service, capture_output=True, text=True)
    assert found.returncode != 0
    assert "README.md:" in found.stdout
    assert "leftover conflict marker" in found.stdout
    assert conflicted_files(service) == ["README.md"]


def test_update_refuses_a_dirty_project(tmp_path: Path) -> None:
    template = template_repo(tmp_path / "template", "1.0.0")
    service = new_service(template, tmp_path / "service", "1.0.0", database="none")
    (service / "README.md").write_text("uncommitted work\n")

    with pytest.raises(Exception, match="dirty") as refused:
        update(service, "1.0.0")

    assert type(refused.value).__name__ == "UserMessageError"
    assert (service / "README.md").read_text() == "uncommitted work\n"


def test_env_is_never_overwritten(tmp_path: Path) -> None:
    template = template_repo(tmp_path / "template", "1.0.0")
    service = new_service(template, tmp_path / "service", "1.0.0", database="none")
    (service / ".env").write_text("LOG_LEVEL=DEBUG\n")
    (template / "template/.env.jinja").write_text("LOG_LEVEL=INFO\n")
    commit_all(template, "Ship a default .env", "1.1.0")

    update(service, "1.1.0")

    assert (service / ".env").read_text() == "LOG_LEVEL=DEBUG\n"


def run_suite(project: Path, matrix_python: str) -> None:
    """Export and commit openapi.json as the service's README says, then run the suite as CI."""
    env = {
        "PATH": os.environ["PATH"],
        "TEST_DATABASE_URL": TEST_DATABASE_URL,
        "CI": "true",
        # No __pycache__ left behind: it is git-ignored, so an update would leave it.
        "PYTHONDONTWRITEBYTECODE": "1",
        # The update is under test here; tests/test_variants.py fuzzes every variant, deeply too.
        "FUZZ_EXAMPLES": "5",
    }
    subprocess.run(
        [matrix_python, "-m", "app.commands.export_openapi"], cwd=project, env=env, check=True
    )
    if git(project, "status", "--porcelain"):
        commit_all(project, "Export the OpenAPI document")
    result = subprocess.run(
        [matrix_python, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert " passed" in result.stdout


@pytest.mark.matrix
def test_changing_the_database_answer_swaps_the_files(tmp_path: Path, matrix_python: str) -> None:
    require_server("127.0.0.1", 5432, "PostgreSQL")
    template = template_repo(tmp_path / "template", "1.0.0")
    service = new_service(template, tmp_path / "service", "1.0.0", database="sqlite")

    update(service, "1.0.0", database="postgresql")

    assert conflicted_files(service) == []
    assert answers_of(service)["database"] == "postgresql"
    pyproject = (service / "pyproject.toml").read_text()
    assert "asyncpg" in pyproject
    assert "aiosqlite" not in pyproject
    assert "PRAGMA" not in (service / "app/db/engine.py").read_text()
    commit_all(service, "Move to PostgreSQL")
    run_suite(service, matrix_python)

    update(service, "1.0.0", database="none")

    assert conflicted_files(service) == []
    assert not (service / "app/db").exists()  # the suite wrote no bytecode into it
    assert not (service / "alembic.ini").exists()
    assert not (service / "app/api/v1/items.py").exists()
    run_suite(service, matrix_python)


RELEASE_HEADING = re.compile(r"^## (v?\d+(?:\.\d+)*)\n\nCommit ([0-9a-f]{40})", re.MULTILINE)


def releases() -> list[tuple[str, str]]:
    """Every release CHANGELOG.md names, newest first, and the ref to check out for each.

    CHANGELOG.md names each release's commit, so a clone that fetched no tags (CI's, for one)
    still has every release; a tag of the same name wins where there is one.
    """
    found = RELEASE_HEADING.findall((ROOT / "CHANGELOG.md").read_text())
    assert found, "CHANGELOG.md names no release commit (a '## X.Y.Z' then 'Commit <sha>')"
    tags = set(git(ROOT, "tag", "--list").split())
    return [(version, version if version in tags else commit) for version, commit in found]


@pytest.mark.matrix
@pytest.mark.parametrize(("version", "ref"), releases(), ids=[v for v, _ in releases()])
def test_update_from_each_release_to_the_working_tree(
    tmp_path: Path, matrix_python: str, version: str, ref: str
) -> None:
    require_server("127.0.0.1", 5432, "PostgreSQL")
    # The release as published, then the working tree committed on top of it.
    template = tmp_path / "template"
    git(ROOT, "worktree", "add", "--detach", str(template), ref)
    try:
        service = new_service(template, tmp_path / "service", ref)
        released = answers_of(service)["_commit"]
        for entry in template.iterdir():
            if entry.name != ".git":
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
        snapshot_template(template)
        commit_all(template, "working tree")

        update(service, "HEAD")

        assert conflicted_files(service) == []
        assert answers_of(service)["_commit"] != released
        commit_all(service, "Update from the template")
        run_suite(service, matrix_python)
    finally:
        git(ROOT, "worktree", "remove", "--force", str(template))


MIGRATION = """
_migrations:
  - version: "1.1.0"
    when: "{{ _stage == 'before' }}"
    command:
      - "{{ _copier_python }}"
      - "{{ _copier_conf.src_path }}/migrations/rename_answer.py"
      - value
      - database
      - postgres
      - postgresql
"""


def spell_postgresql_as_postgres(template: Path) -> None:
    """Turn the template into an older one in which the answer was spelled `postgres`."""
    for path in [template / "copier.yml", *(template / "template").rglob("*.jinja")]:
        text = path.read_text()
        path.write_text(
            text.replace("'postgresql'", "'postgres'").replace(": postgresql\n", ": postgres\n")
        )
    config = (template / "copier.yml").read_text()
    assert "default: postgres\n" in config
    assert "(asyncpg): postgres\n" in config


def test_a_renamed_answer_value_is_migrated_on_update(tmp_path: Path) -> None:
    template = tmp_path / "template"
    snapshot_template(template)
    spell_postgresql_as_postgres(template)
    git(template, "init", "-q", "-b", "main")
    commit_all(template, "answers spelled postgres", "1.0.0")
    service = new_service(template, tmp_path / "service", "1.0.0", database="postgres")
    assert answers_of(service)["database"] == "postgres"
    assert "asyncpg" in (service / "pyproject.toml").read_text()

    # The next release spells it `postgresql` and carries a migration for services made before.
    shutil.rmtree(template / "template")
    snapshot_template(template)
    config = template / "copier.yml"
    config.write_text(config.read_text().replace("_migrations: []\n", MIGRATION))
    commit_all(template, "spell it postgresql", "1.1.0")

    # Migrations run commands, so the update that crosses one needs --trust (unsafe=True).
    with pytest.raises(Exception, match="unsafe"):
        update(service, "1.1.0")
    run_update(service, defaults=True, overwrite=True, vcs_ref="1.1.0", quiet=True, unsafe=True)

    assert answers_of(service)["database"] == "postgresql"
    assert answers_of(service)["_commit"] == "1.1.0"
    assert conflicted_files(service) == []
    assert "asyncpg" in (service / "pyproject.toml").read_text()
