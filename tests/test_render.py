"""Every variant renders to clean files: no Jinja left over, parseable config, tidy whitespace; the
template's own Python keeps its inline Jinja within bounds; and the harness renders each set of
answers once per run."""

from __future__ import annotations

import re
import time
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from bench.jinja_figures import measure_jinja, report_jinja
from tests import rendering
from tests.matrix import DEFAULTS, Variant

# GitHub Actions expressions (`${{ github.ref }}`) are the one legitimate use of the delimiters.
ACTIONS_EXPRESSION = re.compile(r"\$\{\{.*?\}\}")
# Every Jinja construct opens with one of these; `%}` alone also betrays a broken tag. A lone `}}`
# is not checked: it closes nested dicts and sets in Python and JSON.
JINJA_MARKERS = ("{{", "{%", "{#", "%}")


def text_files(root: Path) -> dict[Path, str]:
    """Every rendered file that is UTF-8 text, by path relative to root."""
    texts = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            try:
                texts[path.relative_to(root)] = path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                continue
    return texts


def jinja_leftovers(text: str) -> list[str]:
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = ACTIONS_EXPRESSION.sub("", line)
        if any(marker in stripped for marker in JINJA_MARKERS):
            found.append(f"{number}: {line.strip()}")
    return found


def whitespace_problems(text: str) -> list[str]:
    """Trailing spaces and runs of blank lines, the marks a misplaced `{%- ... %}` leaves."""
    found = []
    blank_run = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if line != line.rstrip():
            found.append(f"{number}: trailing whitespace")
        blank_run = blank_run + 1 if not line.strip() else 0
        if blank_run == 3:
            found.append(f"{number}: three blank lines in a row")
    return found


def test_the_template_s_inline_jinja_stays_within_its_bounds(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Control tags per 100 lines of the template's Python, and the share of its Python files
    holding any, within issue 18's bounds (bench/jinja_figures.py counts them): a question whose
    answers spread `{% if %}`s through shared files fails here, where a whole-file conditional or
    a module of its own would keep the shared code the same for every answer."""
    figures = measure_jinja()
    report_jinja(figures)
    assert figures["pass"], capsys.readouterr().out


def test_renders_clean_files(rendered: Path, variant: Variant) -> None:
    texts = text_files(rendered)
    assert texts, "the render produced no files"

    leftovers = {
        str(path): found for path, text in texts.items() if (found := jinja_leftovers(text))
    }
    assert not leftovers, f"Jinja left in the rendered files: {leftovers}"

    suffixed = [str(path) for path in rendered.rglob("*.jinja")]
    assert not suffixed, f"files kept their .jinja suffix: {suffixed}"

    untidy = {
        str(path): found
        for path, text in texts.items()
        if path.suffix != ".md" and (found := whitespace_problems(text))
    }
    assert not untidy, f"whitespace left by template tags: {untidy}"


def test_config_files_parse(rendered: Path, variant: Variant) -> None:
    for path in [*rendered.rglob("*.yml"), *rendered.rglob("*.yaml")]:
        try:
            list(yaml.safe_load_all(path.read_text()))
        except yaml.YAMLError as error:
            pytest.fail(f"{path.relative_to(rendered)} is not valid YAML: {error}")
    for path in rendered.rglob("*.toml"):
        try:
            tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as error:
            pytest.fail(f"{path.relative_to(rendered)} is not valid TOML: {error}")


def test_database_files_follow_the_answer(rendered: Path, variant: Variant) -> None:
    has_database = variant.answers["database"] != "none"

    assert (rendered / "app" / "db").is_dir() == has_database
    assert (rendered / "alembic.ini").is_file() == has_database


def test_only_renders_that_one_file_as_the_whole_render_has_it(
    template_snapshot: Path, tmp_path: Path
) -> None:
    """What nox's shared environment reads the dependencies from (`--only pyproject.toml`, from
    a copy of the template holding only its questions and that file)."""
    answers = DEFAULTS
    whole = rendering.render(template_snapshot, answers, tmp_path / "whole")
    alone = rendering.render(template_snapshot, answers, tmp_path / "alone", only="pyproject.toml")
    slim = rendering.slim_template(tmp_path / "slim", "pyproject.toml", root=template_snapshot)
    from_slim = rendering.render(slim, answers, tmp_path / "from-slim", only="pyproject.toml")

    expected = (whole / "pyproject.toml").read_text()
    for render in (alone, from_slim):
        assert sorted(path.name for path in render.iterdir()) == ["pyproject.toml"]
        assert (render / "pyproject.toml").read_text() == expected


def test_a_render_asked_for_twice_at_once_is_made_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Two workers asking for the same answers together: the second waits for the first's render
    and copies it (tests/rendering.py's `render_copy`), instead of rendering it as well."""
    made: list[Path] = []

    def slow_render(src: Path, answers: object, dst: Path) -> Path:
        made.append(dst)
        time.sleep(0.5)  # long enough for the other thread to ask meanwhile
        dst.mkdir(parents=True)
        (dst / "rendered").write_text(str(len(made)))
        return dst

    monkeypatch.setattr(rendering, "render", slow_render)
    src = tmp_path / "snapshot"
    src.mkdir()
    with ThreadPoolExecutor(max_workers=2) as pool:
        copies = list(
            pool.map(
                lambda name: rendering.render_copy(src, DEFAULTS, tmp_path / name),
                ["first", "second"],
            )
        )

    assert len(made) == 1
    assert [(copy / "rendered").read_text() for copy in copies] == ["1", "1"]
