"""A refused database URL is reported in one line that never repeats it: it may hold a password."""

from pathlib import Path

import pytest

from tests.core.refusals import assert_refused_in_one_line


def test_a_refused_database_url_is_one_line_without_its_value(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert_refused_in_one_line(
        monkeypatch, tmp_path, "DATABASE_URL", "postgres-s3cret-pw@db.internal"
    )
