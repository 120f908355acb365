"""The JWT secret is refused like every other setting: in one line that never repeats it; the
account mail's settings are checked as well."""

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from app.core.config import Settings
from tests.conftest import SettingsFactory
from tests.core.refusals import assert_refused_in_one_line
from tests.support.accounts import JWT_SECRET


def test_a_refused_jwt_secret_is_one_line_without_its_value(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert_refused_in_one_line(monkeypatch, tmp_path, "JWT_SECRET", "short-secret-value")


def production_values(settings_factory: SettingsFactory) -> dict[str, Any]:
    return {
        "_env_file": None,
        "environment": "production",
        "allowed_hosts": ["api.example.com"],
        "jwt_secret": JWT_SECRET,
        "database_url": settings_factory().database_url,
    }


def test_production_requiring_verification_needs_the_mail_settings(
    settings_factory: SettingsFactory,
) -> None:
    values = production_values(settings_factory) | {"email_verification_required": True}

    with pytest.raises(ValidationError) as refused:
        Settings(**values)

    assert "SMTP_HOST must be set" in str(refused.value)
    assert "EMAIL_VERIFICATION_URL must be set" in str(refused.value)
    accepted = Settings(
        **values,
        smtp_host="smtp.example.com",
        email_verification_url="https://app.example.com/verify-email?token={token}",
    )
    assert accepted.email_verification_required
    # Not required, the mail settings may stay at their defaults.
    assert not Settings(**production_values(settings_factory)).email_verification_required


@pytest.mark.parametrize("setting", ["password_reset_url", "email_verification_url"])
def test_a_link_must_carry_the_token_once(setting: str) -> None:
    for url in ("https://app.example.com/page", "https://app.example.com/{token}/{token}"):
        values: dict[str, Any] = {"_env_file": None, setting: url}
        with pytest.raises(ValidationError) as refused:
            Settings(**values)
        assert "must contain {token} once" in str(refused.value)
