"""Production refuses to start on the PostgreSQL URL meant for a developer's machine."""

import pytest
from pydantic import ValidationError

from app.core.config import Settings


def test_production_refuses_the_default_database_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)

    with pytest.raises(ValidationError, match="DATABASE_URL must be set"):
        Settings(_env_file=None, environment="production")
