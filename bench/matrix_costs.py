"""What each step of the matrix costs: per-step sums, per-variant median and worst.

tests/test_variants.py appends one JSON line per passed variant to the file MATRIX_TIMINGS names:
`{"variant": "<id>", "steps": {"render": s, "export_openapi": s, "ruff": s, ...}}`. This module
reads it back. Run it on a file from any run of the matrix:

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

    @property
    def total(self) -> float:
        return sum(self.steps.values())


def read_costs(path: Path) -> list[VariantCost]:
    """The variants in the file; a variant timed twice (a rerun) keeps its last line."""
    latest: dict[str, VariantCost] = {}
    if not path.exists():
        return []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            record = json.loads(line)
            latest[record["variant"]] = VariantCost(record["variant"], record["steps"])
    return list(latest.values())


def step_names(costs: list[VariantCost]) -> list[str]:
    seen = {step for cost in costs for step in cost.steps}
    return [step for step in STEPS if step in seen] + sorted(seen - set(STEPS))


def step_figures(costs: list[VariantCost]) -> dict[str, dict[str, float]]:
    """Per step: its sum, median and worst over the variants."""
    steps = {}
    for step in step_names(costs):
        values = [cost.steps[step] for cost in costs if step in cost.steps]
        steps[step] = {
            "sum_s": round(sum(values), 1),
            "median_s": round(statistics.median(values), 2),
            "worst_s": round(max(values), 2),
        }
    return steps


def summary(costs: list[VariantCost]) -> dict[str, object]:
    """The per-step figures, and each variant's total: median and worst."""
    totals = sorted(costs, key=lambda cost: cost.total)
    worst = totals[-1] if totals else None
    return {
        "variants": len(costs),
        "steps": step_figures(costs),
        "per_variant_median_s": round(statistics.median(c.total for c in costs), 1) if costs else 0,
        "per_variant_worst_s": round(worst.total, 1) if worst else 0,
        "worst_variant": worst.variant if worst else None,
        "sum_s": round(sum(cost.total for cost in costs), 1),
    }


def report(costs: list[VariantCost], *, each: bool = False) -> None:
    """Print the per-step table, the per-variant median and worst, and each variant if asked."""
    if not costs:
        print("Matrix costs: no variant timed (was MATRIX_TIMINGS set, and did any variant pass?)")
        return
    result = summary(costs)
    print(f"Matrix costs over {result['variants']} variants (seconds, one process each):")
    print(f"  {'step':<16}{'sum':>9}{'median':>9}{'worst':>9}")
    for step, figures in step_figures(costs).items():
        print(
            f"  {step:<16}{figures['sum_s']:>9.1f}{figures['median_s']:>9.2f}"
            f"{figures['worst_s']:>9.2f}"
        )
    print(f"  {'all steps':<16}{result['sum_s']:>9.1f}")
    print(
        f"  per variant: median {result['per_variant_median_s']} s, "
        f"worst {result['per_variant_worst_s']} s ({result['worst_variant']})"
    )
    if each:
        names = step_names(costs)
        print("  " + "  ".join(["variant".ljust(60), *(name[:8].rjust(8) for name in names)]))
        for cost in sorted(costs, key=lambda cost: -cost.total):
            cells = [f"{cost.steps.get(name, 0):8.2f}" for name in names]
            print("  " + "  ".join([cost.variant[:60].ljust(60), *cells]) + f"  {cost.total:7.1f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("timings", type=Path, help="the JSON lines file MATRIX_TIMINGS named")
    parser.add_argument("--each", action="store_true", help="also print every variant's steps")
    args = parser.parse_args(argv)
    report(read_costs(args.timings), each=args.each)


if __name__ == "__main__":
    main()
