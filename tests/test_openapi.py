"""Each variant's exported OpenAPI document is valid OpenAPI 3.1 and carries only problem errors."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from openapi_spec_validator import OpenAPIV31SpecValidator

from tests.matrix import Variant

pytestmark = pytest.mark.matrix


def export(project: Path, python: str) -> dict[str, object]:
    """Run the service's own export command, as `make openapi` does, and read what it wrote."""
    subprocess.run(
        [python, "-m", "app.commands.export_openapi"],
        cwd=project,
        check=True,
        capture_output=True,
        timeout=120,
    )
    document: dict[str, object] = json.loads((project / "openapi.json").read_text())
    return document


def test_the_export_is_valid_openapi_3_1(
    rendered: Path, variant: Variant, matrix_python: str
) -> None:
    document = export(rendered, matrix_python)

    assert str(document["openapi"]).startswith("3.1.")
    errors = [error.message for error in OpenAPIV31SpecValidator(document).iter_errors()]
    assert not errors, errors
    text = json.dumps(document)
    assert "HTTPValidationError" not in text
    assert '"application/problem+json"' in text
