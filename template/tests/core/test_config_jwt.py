"""The JWT secret is refused like every other setting: in one line that never repeats it."""

from pathlib import Path

import pytest

from tests.core.refusals import assert_refused_in_one_line


def test_a_refused_jwt_secret_is_one_line_without_its_value(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert_refused_in_one_line(monkeypatch, tmp_path, "JWT_SECRET", "short-secret-value")
