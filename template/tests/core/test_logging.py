"""Where the log lines go."""

import io
import logging
import sys

import pytest

from app.core.logging import configure_logging
from tests.conftest import SettingsFactory


def test_a_library_line_goes_to_stderr_as_it_is_when_logged(
    settings_factory: SettingsFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Logging configured while one stream was stderr (a test's capture, since closed) writes a
    library's line to the stream stderr is now, not to the old one."""
    configure_logging(settings_factory(log_json=True))
    now = io.StringIO()
    monkeypatch.setattr(sys, "stderr", now)

    logging.getLogger("uvicorn.error").warning("stderr moved")

    assert '"event": "stderr moved"' in now.getvalue()
