"""What each step of the matrix costs: per-step sums, per-variant median and worst.

tests/test_variants.py appends one JSON line per passed variant to the file MATRIX_TIMINGS names:
`{"variant": "<id>", "steps": {"render": s, "ruff": s, ...}, "cpu": {"render": s, ...}}`, the wall
and the CPU seconds of each step. This module reads it back and prints both: the CPU time is the
cost on one core, the same whatever else runs meanwhile (the issue's "one core, the sum of its
steps"); the wall time grows with what the other workers run beside it. Run it on a file from any
run of the matrix:

    MATRIX_TIMINGS=/tmp/costs.jsonl nox -s matrix -- database=sqlite
    python bench/matrix_costs.py /tmp/costs.jsonl
"""

from __future__ import annotations

import argparse
import json
import statistics
from dataclasses import dataclass
from pathlib import Path

# Where `nox -s bench -- --matrix` has the harness write them.
FILE = Path(__file__).resolve().parent / "results" / "matrix-costs.jsonl"

# The order the harness runs them in; a step this list does not name is printed after these.
STEPS = ("render", "export_openapi", "openapi_check", "ruff", "format", "mypy", "deptry", "suite")


@dataclass(frozen=True)
class VariantCost:
    variant: str
    steps: dict[str, float]
    # CPU seconds per step; empty in files written before the harness measured them.
    cpu: dict[str, float]

    @property
    def total(self) -> float:
        return sum(self.steps.values())

    @property
    def cpu_total(self) -> float:
        return sum(self.cpu.values())


def read_costs(path: Path) -> list[VariantCost]:
    """The variants in the file; a variant timed twice (a rerun) keeps its last line."""
    latest: dict[str, VariantCost] = {}
    if not path.exists():
        return []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            record = json.loads(line)
            latest[record["variant"]] = VariantCost(
                record["variant"], record["steps"], record.get("cpu", {})
            )
    return list(latest.values())


def step_names(costs: list[VariantCost]) -> list[str]:
    seen = {step for cost in costs for step in cost.steps}
    return [step for step in STEPS if step in seen] + sorted(seen - set(STEPS))


def _figures(values: list[float]) -> dict[str, float]:
    return {
        "sum_s": round(sum(values), 1),
        "median_s": round(statistics.median(values), 2),
        "worst_s": round(max(values), 2),
    }


def step_figures(costs: list[VariantCost]) -> dict[str, dict[str, float]]:
    """Per step: the sum, median and worst of its wall time over the variants, and of its CPU
    time (`cpu_` figures) over the variants that have it."""
    steps = {}
    for step in step_names(costs):
        steps[step] = _figures([cost.steps[step] for cost in costs if step in cost.steps])
        cpu = [cost.cpu[step] for cost in costs if step in cost.cpu]
        if cpu:
            steps[step] |= {f"cpu_{name}": value for name, value in _figures(cpu).items()}
    return steps


def summary(costs: list[VariantCost]) -> dict[str, object]:
    """The per-step figures, and each variant's total wall and CPU time: median and worst."""
    worst = max(costs, key=lambda cost: cost.total, default=None)
    timed = [cost for cost in costs if cost.cpu]
    worst_cpu = max(timed, key=lambda cost: cost.cpu_total, default=None)
    return {
        "variants": len(costs),
        "steps": step_figures(costs),
        "per_variant_median_s": round(statistics.median(c.total for c in costs), 1) if costs else 0,
        "per_variant_worst_s": round(worst.total, 1) if worst else 0,
        "worst_variant": worst.variant if worst else None,
        "sum_s": round(sum(cost.total for cost in costs), 1),
        "per_variant_cpu_median_s": (
            round(statistics.median(c.cpu_total for c in timed), 1) if timed else None
        ),
        "per_variant_cpu_worst_s": round(worst_cpu.cpu_total, 1) if worst_cpu else None,
        "worst_cpu_variant": worst_cpu.variant if worst_cpu else None,
        "cpu_sum_s": round(sum(cost.cpu_total for cost in timed), 1) if timed else None,
    }


def _cells(figures: dict[str, float], prefix: str = "") -> str:
    """Sum, median and worst, or blanks where the file has no such figure."""
    names = ("sum_s", "median_s", "worst_s")
    if f"{prefix}sum_s" not in figures:
        return " " * 27
    return "".join(f"{figures[f'{prefix}{name}']:>9.2f}" for name in names)


def report(costs: list[VariantCost], *, each: bool = False) -> dict[str, object] | None:
    """Print the per-step table, the per-variant median and worst, and each variant if asked;
    the figures printed (`summary`), or None when no variant was timed."""
    if not costs:
        print("Matrix costs: no variant timed (was MATRIX_TIMINGS set, and did any variant pass?)")
        return None
    result = summary(costs)
    print(f"Matrix costs over {result['variants']} variants (seconds of wall and of CPU time):")
    columns = "".join(f"{name:>9}" for name in ("sum", "median", "worst"))
    print(f"  {'':<16}{'wall':>27}  {'CPU':>27}")
    print(f"  {'step':<16}{columns}  {columns}")
    for step, figures in step_figures(costs).items():
        print(f"  {step:<16}{_cells(figures)}  {_cells(figures, 'cpu_')}")
    cpu_sum = result["cpu_sum_s"]
    print(f"  {'all steps':<16}{result['sum_s']:>9.1f}{'':>18}  {cpu_sum if cpu_sum else '':>9}")
    print(
        f"  per variant, wall: median {result['per_variant_median_s']} s, "
        f"worst {result['per_variant_worst_s']} s ({result['worst_variant']})"
    )
    if result["per_variant_cpu_median_s"] is not None:
        print(
            f"  per variant, CPU: median {result['per_variant_cpu_median_s']} s, "
            f"worst {result['per_variant_cpu_worst_s']} s ({result['worst_cpu_variant']})"
        )
    if each:
        # Each variant's CPU seconds per step where the file has them, else its wall seconds.
        names = step_names(costs)
        width = max(len(cost.variant) for cost in costs)
        print("  " + "  ".join(["variant".ljust(width), *(name[:8].rjust(8) for name in names)]))
        for cost in sorted(costs, key=lambda cost: -(cost.cpu_total or cost.total)):
            seconds = cost.cpu or cost.steps
            cells = [f"{seconds.get(name, 0):8.2f}" for name in names]
            total = sum(seconds.values())
            kind = "CPU" if cost.cpu else "wall"
            print("  " + "  ".join([cost.variant.ljust(width), *cells]) + f"  {total:7.1f} {kind}")
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("timings", type=Path, help="the JSON lines file MATRIX_TIMINGS named")
    parser.add_argument("--each", action="store_true", help="also print every variant's steps")
    args = parser.parse_args(argv)
    report(read_costs(args.timings), each=args.each)


if __name__ == "__main__":
    main()
