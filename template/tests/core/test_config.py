"""Settings parse the environment and refuse unsafe production values."""

from pathlib import Path

import pytest
from pydantic import ValidationError

from app.core.config import Settings
from app.main import create_app
from tests.conftest import SettingsFactory
from tests.core.refusals import assert_refused_in_one_line


def test_cors_origins_accept_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORS_ORIGINS", "https://a.example, https://b.example")

    settings = Settings(_env_file=None)

    assert settings.cors_origins == ["https://a.example", "https://b.example"]


def test_allowed_hosts_accept_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALLOWED_HOSTS", "api.example.com, *.internal.example")

    settings = Settings(_env_file=None)

    assert settings.allowed_hosts == ["api.example.com", "*.internal.example"]


def test_any_host_is_served_outside_production_unless_listed(
    settings_factory: SettingsFactory,
) -> None:
    assert settings_factory().served_hosts == ["*"]
    assert settings_factory(allowed_hosts=["a.example"]).served_hosts == ["a.example"]


def test_production_refuses_to_start_without_allowed_hosts(
    settings_factory: SettingsFactory,
) -> None:
    with pytest.raises(ValidationError, match="ALLOWED_HOSTS must be set"):
        settings_factory(environment="production")


def test_production_accepts_a_wildcard_host_set_on_purpose(
    settings_factory: SettingsFactory,
) -> None:
    assert settings_factory(environment="production", allowed_hosts=["*"]).served_hosts == ["*"]


def test_a_refused_setting_is_one_line_without_its_value(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert_refused_in_one_line(monkeypatch, tmp_path, "MAX_BODY_SIZE", "-12345")


def test_production_refuses_wildcard_cors_with_credentials(
    settings_factory: SettingsFactory,
) -> None:
    with pytest.raises(ValidationError, match="CORS_ORIGINS must not contain"):
        settings_factory(environment="production", cors_origins=["*"], cors_allow_credentials=True)


def test_logs_are_json_everywhere_but_development(settings_factory: SettingsFactory) -> None:
    assert settings_factory(environment="development").json_logs is False
    assert settings_factory(environment="staging").json_logs is True
    assert settings_factory(environment="development", log_json=True).json_logs is True


def test_production_turns_the_api_docs_off(settings_factory: SettingsFactory) -> None:
    production = create_app(settings_factory(environment="production", allowed_hosts=["*"]))
    development = create_app(settings_factory(environment="development"))

    assert production.openapi_url is None
    assert production.docs_url is None
    assert development.openapi_url == "/openapi.json"
