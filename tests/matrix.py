"""The answer matrix: which combinations of copier.yml's answers the harness renders and checks.

Two kinds of choice questions:

- FEATURE_AXES change the rendered code. Their full product, minus the combinations copier.yml
  refuses (see `refusal`), is rendered and run through ruff, mypy, deptry and the rendered suite.
- RENDER_AXES change only the runtime and packaging. python_version picks the Docker base image,
  `.python-version` and CI's Python, while the code and `requires-python` support 3.11 and newer,
  so every variant installs on the one 3.11 interpreter here. The full product therefore runs with
  python_version at its default, and each other value is rendered once at default features and
  checked without its suite (render, Jinja leftovers, parsing, ruff, mypy, deptry).

The first value of every axis is copier.yml's default (tests/test_matrix.py holds the two files
together). A new question joins the matrix by one line in FEATURE_AXES, and a combination that
copier.yml's validators refuse by one rule in `refusal`.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# Answers given to every render on top of the axes; everything else takes copier.yml's default.
BASE_ANSWERS: dict[str, object] = {"project_name": "Example Service"}

FEATURE_AXES: dict[str, list[object]] = {
    "database": ["postgresql", "sqlite", "none"],
    "auth": ["jwt", "none"],
    "rate_limit_backend": ["memory", "redis", "none"],
    "sentry": [False, True],
    "metrics": [False, True],
    "tracing": [False, True],
    "jobs": ["none", "taskiq"],
}

# The observability questions add a module each inside the app; they do not change what is
# deployed beyond a few settings. The deployment tests that start gunicorn therefore cover them on
# the diagonal (all off, all on) rather than in all eight combinations: see `deploy_variants`.
OBSERVABILITY_AXES = ("sentry", "metrics", "tracing")

RENDER_AXES: dict[str, list[object]] = {
    "python_version": ["3.11", "3.12", "3.13"],
}

DEFAULTS: dict[str, object] = {
    question: values[0] for question, values in (FEATURE_AXES | RENDER_AXES).items()
}


@dataclass(frozen=True)
class Variant:
    """One combination of answers, with what the harness does with it."""

    answers: dict[str, object]
    id: str
    run_suite: bool


def answer_text(value: object) -> str:
    """An answer as a filter or a test ID spells it: booleans as YAML does (`metrics=true`)."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def refusal(answers: Mapping[str, object]) -> str | None:
    """Say why copier.yml refuses this combination of answers, or None when it accepts it."""
    if answers.get("auth") == "jwt" and answers.get("database") == "none":
        return "auth=jwt needs a database"
    if answers.get("jobs") == "taskiq" and answers.get("database") == "none":
        return "jobs=taskiq needs a database"
    return None


def _feature_variants() -> list[Variant]:
    variants = []
    for values in itertools.product(*FEATURE_AXES.values()):
        features = dict(zip(FEATURE_AXES, values, strict=True))
        answers = DEFAULTS | features
        if refusal(answers) is None:
            label = ",".join(
                f"{question}={answer_text(value)}" for question, value in features.items()
            )
            variants.append(Variant(answers=answers, id=label, run_suite=True))
    return variants


def _render_only_variants() -> list[Variant]:
    variants = []
    for question, values in RENDER_AXES.items():
        for value in values[1:]:
            answers = DEFAULTS | {question: value}
            if refusal(answers) is None:
                variants.append(Variant(answers=answers, id=f"{question}={value}", run_suite=False))
    return variants


VARIANTS: list[Variant] = _feature_variants() + _render_only_variants()


def deploy_variants(variants: Iterable[Variant]) -> list[Variant]:
    """The variants whose observability answers are all off or all on.

    Every other axis keeps its full product, so each database, auth and limiter is still started
    with and without every observability tool.
    """
    return [
        variant
        for variant in variants
        if len({variant.answers[axis] for axis in OBSERVABILITY_AXES}) == 1
    ]


def covering_variants(variants: Iterable[Variant]) -> list[Variant]:
    """A few suite variants that between them give every feature question each of its values.

    The default variant comes first; each next one is the variant that adds the most values not yet
    covered (the first such in matrix order). Checks that the matrix runs lighter on most variants
    (tests/test_variants.py: the fuzz test's examples) run at full depth on these.
    """
    candidates = [variant for variant in variants if variant.run_suite]
    default = next(variant for variant in candidates if variant.answers == DEFAULTS)

    def values(variant: Variant) -> set[tuple[str, object]]:
        return {(question, variant.answers[question]) for question in FEATURE_AXES}

    wanted = {(question, value) for question, axis in FEATURE_AXES.items() for value in axis}
    chosen = [default]
    missing = wanted - values(default)
    while missing:
        best = max(candidates, key=lambda variant: len(values(variant) & missing))
        chosen.append(best)
        missing -= values(best)
    return chosen


def parse_assignments(assignments: Iterable[str]) -> dict[str, str]:
    """Turn `key=value` words (nox's positional arguments, MATRIX_FILTER) into a dict."""
    parsed = {}
    for assignment in assignments:
        key, sep, value = assignment.partition("=")
        if not sep or not key:
            raise ValueError(f"expected key=value, got {assignment!r}")
        parsed[key] = value
    return parsed


def select(variants: Iterable[Variant], filters: list[str]) -> list[Variant]:
    """Keep the variants whose answers match every `key=value` filter.

    Refuses a filter on a question the matrix does not vary, and a selection that matches nothing,
    so a typo fails loudly instead of running zero variants.
    """
    wanted = parse_assignments(filters)
    unknown = sorted(set(wanted) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"no matrix axis named {', '.join(unknown)}; axes: {', '.join(DEFAULTS)}")
    chosen = [
        variant
        for variant in variants
        if all(answer_text(variant.answers[key]) == value for key, value in wanted.items())
    ]
    if not chosen:
        raise ValueError(f"no variant matches {' '.join(filters)}")
    return chosen


def selected_variants() -> list[Variant]:
    """Every variant, narrowed by MATRIX_FILTER (what `nox -s matrix -- key=value` passes)."""
    return select(VARIANTS, os.environ.get("MATRIX_FILTER", "").split())
