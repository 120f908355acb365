"""Matrix wall time: the whole answer matrix, run as `nox -s matrix` runs it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from typing import Any

import matrix_costs
from serving import RESULTS, ROOT, verdict

# Issue 19's target for the product with the jobs question in it (20 minutes before it joined).
MATRIX_TARGET_S = 30 * 60
# Issue 19's targets per variant, on one core: the CPU seconds of its steps, median and worst.
PER_VARIANT_MEDIAN_TARGET_S = 10.0
PER_VARIANT_WORST_TARGET_S = 25.0
# As noxfile.py's WORKERS: one more than the cores.
WORKERS = len(os.sched_getaffinity(0)) + 1


def measure_matrix() -> dict[str, Any]:
    """Run the matrix as `nox -s matrix` does; its output goes to a log file."""
    command = [sys.executable, "-m", "pytest", "-m", "matrix", "-n", str(WORKERS)]
    command += ["--dist", "worksteal", "tests", "-q"]
    log_path = RESULTS / "matrix.log"
    env = {**os.environ, "MATRIX_PYTHON": sys.executable, "MATRIX_TIMINGS": str(matrix_costs.FILE)}
    matrix_costs.FILE.unlink(missing_ok=True)
    shown = " ".join(["python", *command[1:]])
    print(f"Matrix: running `{shown}` (output in {log_path.relative_to(ROOT)})")
    started = time.perf_counter()
    with log_path.open("w") as log:
        # Bounded at twice the target: a matrix that slow has missed it whatever it ends at.
        try:
            subprocess.run(
                command,
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=2 * MATRIX_TARGET_S,
                check=False,
            )
            timed_out = False
        except subprocess.TimeoutExpired:
            timed_out = True
    wall = time.perf_counter() - started
    lines = log_path.read_text().strip().splitlines()
    summary = lines[-1] if lines else ""
    counts = {word: int(n) for n, word in re.findall(r"(\d+) (passed|failed|skipped)", summary)}
    variants = counts.get("passed", 0) + counts.get("failed", 0)
    return {
        "wall_s": round(wall, 1),
        "variants": variants,
        "per_variant_s": round(wall / variants, 1) if variants else None,
        "passed": counts.get("passed", 0),
        "failed": counts.get("failed", 0),
        "skipped": counts.get("skipped", 0),
        "timed_out": timed_out,
        "summary": summary,
        # `nox -s matrix -- key=value` narrows the matrix; the target is for the whole product.
        "filter": os.environ.get("MATRIX_FILTER", ""),
        "target_s": MATRIX_TARGET_S,
        "pass": not timed_out and wall <= MATRIX_TARGET_S,
    }


def report_matrix(matrix: dict[str, Any] | None) -> None:
    if matrix is None:
        print("Matrix: skipped (run it with `nox -s bench -- --matrix`; it takes minutes)")
        return
    per_variant = matrix["per_variant_s"]
    per = f"{per_variant:.1f} s per variant" if per_variant else "no variant ran"
    print(
        f"Matrix, variants run: {matrix['variants']}, {WORKERS} workers:  "
        f"wall {matrix['wall_s']:.0f} s, "
        f"{per}   target <= {MATRIX_TARGET_S // 60} min   {verdict(matrix['pass'])}"
    )
    if matrix["failed"] or matrix["skipped"] or matrix["timed_out"] or not matrix["variants"]:
        print(f"  note: pytest said {matrix['summary']!r}; see bench/results/matrix.log")
    if matrix["filter"]:
        print(f"  note: narrowed by MATRIX_FILTER={matrix['filter']!r}, not the whole product")
    figures = matrix_costs.report(matrix_costs.read_costs(matrix_costs.FILE), each=True)
    if figures is None:
        return
    median, worst = figures["per_variant_cpu_median_s"], figures["per_variant_cpu_worst_s"]
    if isinstance(median, float) and isinstance(worst, float):
        median_target, worst_target = PER_VARIANT_MEDIAN_TARGET_S, PER_VARIANT_WORST_TARGET_S
        print(
            f"Matrix, CPU per variant: median {median:.1f} s   target <= {median_target:.0f} s   "
            f"{verdict(median <= median_target)};  worst {worst:.1f} s   "
            f"target <= {worst_target:.0f} s   {verdict(worst <= worst_target)}"
        )
