"""Fuzz time per variant: each variant's own `pytest -m fuzz`, and the cases it generates."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from serving import DATABASE_SERVER, ROOT, verdict

from tests.matrix import VARIANTS
from tests.rendering import render

FUZZ_TARGET_S = 15.0


FUZZ_DATABASE_URL = f"postgresql+asyncpg://{DATABASE_SERVER}/postgres"


def measure_fuzz(snapshot: Path, work: Path) -> dict[str, Any]:
    """Run each variant's own fuzz test (`pytest -m fuzz`) and count the cases it generates.

    bench/fuzz_cases.py, loaded as a pytest plugin, counts the requests schemathesis sends: one per
    generated case, plus the fuzz user's sign-up and login where auth=jwt.
    """
    variants: dict[str, Any] = {}
    for variant in (variant for variant in VARIANTS if variant.run_suite):
        project = render(snapshot, variant.answers, work / f"fuzz-{len(variants)}")
        cases_file = project / "fuzz-cases.json"
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT / "bench"),
            "FUZZ_CASES_FILE": str(cases_file),
            "TEST_DATABASE_URL": FUZZ_DATABASE_URL,
        }
        command = [sys.executable, "-m", "pytest", "-m", "fuzz", "-q", "-p", "fuzz_cases"]
        started = time.perf_counter()
        result = subprocess.run(
            [*command, "-p", "no:cacheprovider"],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        wall = time.perf_counter() - started
        summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
        reported = re.search(r" in ([\d.]+)s", summary)
        cases = json.loads(cases_file.read_text()) if cases_file.is_file() else {}
        variants[variant.id] = {
            "wall_s": round(wall, 2),
            "pytest_s": float(reported.group(1)) if reported else None,
            "operations": len(cases),
            "cases": sum(cases.values()),
            "cases_per_operation": cases,
            "passed": result.returncode == 0,
            "summary": summary,
        }
    # The target is on pytest's own time: the interpreter's start is not the fuzz test's cost.
    slowest = max((figures["pytest_s"] or wall for figures in variants.values()), default=0.0)
    return {
        "variants": variants,
        "target_s": FUZZ_TARGET_S,
        "pass": all(figures["passed"] for figures in variants.values())
        and slowest <= FUZZ_TARGET_S,
    }


def report_fuzz(fuzz: dict[str, Any] | None) -> None:
    if fuzz is None:
        print("Fuzz: skipped (--skip-fuzz)")
        return
    print("Fuzz, `pytest -m fuzz` in each variant (wall, and pytest's own time):")
    for name, figures in fuzz["variants"].items():
        outcome = "" if figures["passed"] else f"   FAILED: {figures['summary']}"
        pytest_s = f"{figures['pytest_s']:5.1f} s" if figures["pytest_s"] is not None else "    ?"
        print(
            f"  {name:<32} {figures['wall_s']:5.1f} s ({pytest_s})   {figures['cases']:4d} cases "
            f"over {figures['operations']:2d} operations{outcome}"
        )
    print(
        f"  target <= {FUZZ_TARGET_S:g} s of pytest's time per variant, none failing   "
        f"{verdict(fuzz['pass'])}"
    )
