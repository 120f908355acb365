"""The servers the suite needs: a missing one skips a test on a laptop and fails it under CI."""

import os
from typing import NoReturn

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"


def unavailable(reason: str) -> NoReturn:
    """Skip a test whose server is missing on a laptop; under CI a missing server is a failure."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: a missing server fails the run)", pytrace=False)
    pytest.skip(reason)
