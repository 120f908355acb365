"""What every refused setting must look like: one line that names the setting and not its value."""

from pathlib import Path

import pytest

from app.core.config import RefusedSettings, get_settings


def assert_refused_in_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, setting: str, value: str
) -> None:
    monkeypatch.chdir(tmp_path)  # where no .env is
    monkeypatch.setenv(setting, value)
    get_settings.cache_clear()

    with pytest.raises(RefusedSettings) as refused:
        get_settings()
    get_settings.cache_clear()

    message = str(refused.value)
    assert message.startswith("refused settings: ")
    assert setting in message
    assert "\n" not in message
    assert value not in message
