"""pytest plugin for bench.py: counts the requests schemathesis sends, one per generated case.

Loaded into a rendered service's own test run with `-p fuzz_cases` (bench/ on PYTHONPATH); the
count per operation goes to the JSON file named by FUZZ_CASES_FILE when the run ends.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import schemathesis

CASES: Counter[str] = Counter()


def pytest_configure(config: pytest.Config) -> None:
    send = schemathesis.Case.call

    def counted_call(case: schemathesis.Case, *args: Any, **kwargs: Any) -> Any:
        CASES[case.operation.label] += 1
        return send(case, *args, **kwargs)

    schemathesis.Case.call = counted_call  # type: ignore[method-assign]


def pytest_unconfigure(config: pytest.Config) -> None:
    target = os.environ.get("FUZZ_CASES_FILE")
    if target:
        Path(target).write_text(json.dumps(dict(CASES), indent=2) + "\n")
