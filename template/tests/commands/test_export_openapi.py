"""The OpenAPI export: written without a server, checked for drift, and committed up to date."""

import json
from pathlib import Path
from typing import Any

import pytest

from app.commands import export_openapi
from app.commands.export_openapi import main, openapi_document, serialize
from tests.support.servers import unavailable

COMMITTED = Path(__file__).parents[2] / "openapi.json"


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    """The document, built once for the module's tests that only compare with it."""
    return openapi_document()


def test_it_writes_the_document_the_app_serves(tmp_path: Path, document: dict[str, Any]) -> None:
    output = tmp_path / "openapi.json"

    assert main(["--output", str(output)]) == 0

    assert json.loads(output.read_text()) == document
    assert output.read_text().endswith("}\n")


def test_it_ignores_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    before = serialize(openapi_document())
    monkeypatch.setenv("PROJECT_NAME", "Someone Else's Laptop")
    monkeypatch.setenv("VERSION", "9.9.9")

    assert serialize(openapi_document()) == before


def test_check_fails_on_a_missing_or_stale_file(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    document: dict[str, Any],
) -> None:
    # What is compared is the point here, not how the document is built: build it once.
    monkeypatch.setattr(export_openapi, "openapi_document", lambda: document)
    output = tmp_path / "openapi.json"
    assert main(["--check", "--output", str(output)]) == 1
    assert "missing" in capsys.readouterr().err

    main(["--output", str(output)])
    assert main(["--check", "--output", str(output)]) == 0

    output.write_text(output.read_text().replace('"paths"', '"paths_renamed"'))
    assert main(["--check", "--output", str(output)]) == 1
    assert "out of date" in capsys.readouterr().err


def test_the_committed_export_is_current(document: dict[str, Any]) -> None:
    if not COMMITTED.is_file():
        unavailable("openapi.json is missing: run `make openapi` and commit it")
    assert COMMITTED.read_text(encoding="utf-8") == serialize(document), (
        "openapi.json is out of date: run `make openapi` and commit it"
    )
