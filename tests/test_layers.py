"""The layer contracts a rendered service lints with (`lint-imports`) refuse what they forbid.

Every variant passes them (tests/test_variants.py); these tests prove the contracts can fail: each
adds one forbidden import to a render and expects `lint-imports` to name the broken contract.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import lint_imports_command
from tests.rendering import render_copy

DEFAULT_ANSWERS: dict[str, object] = {}


@pytest.fixture(scope="module")
def service(template_snapshot: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render_copy(
        template_snapshot, DEFAULT_ANSWERS, tmp_path_factory.mktemp("layers") / "svc"
    )


def lint_imports(project: Path, matrix_python: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [lint_imports_command(matrix_python)],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_render_keeps_every_contract(service: Path, matrix_python: str) -> None:
    result = lint_imports(service, matrix_python)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "forbidden", "contract"),
    [
        (
            "app/api/v1/items.py",
            "from app.db.models.item import Item as _Item",
            "Routers reach storage only through the database object behind SessionDep",
        ),
        (
            "app/db/repositories/items.py",
            "from app.services.items import ItemService as _ItemService",
            "Each layer imports only the layers below it",
        ),
        (
            "app/core/errors.py",
            "from app.api.deps import SettingsDep as _SettingsDep",
            "Each layer imports only the layers below it",
        ),
        (
            "app/schemas/items.py",
            "from app.db.models.item import Item as _Item",
            "Schemas are the API's shapes: they import no layer but core",
        ),
        (
            "app/db/repositories/items.py",
            "from app.schemas.items import ItemRead as _ItemRead",
            "Storage and core know nothing of the API's shapes",
        ),
    ],
)
def test_a_forbidden_import_breaks_its_contract(
    service: Path, matrix_python: str, module: str, forbidden: str, contract: str
) -> None:
    path = service / module
    original = path.read_text()
    path.write_text(f"{original}\n{forbidden}\n")
    try:
        result = lint_imports(service, matrix_python)
    finally:
        path.write_text(original)
    assert result.returncode != 0, result.stdout
    broken = result.stdout.split("Broken contracts", 1)[-1]
    assert f"{contract} BROKEN" in result.stdout, result.stdout
    assert module.removesuffix(".py").replace("/", ".") in broken
