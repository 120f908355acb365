"""tests/matrix.py stays in step with copier.yml, and selecting variants behaves."""

from __future__ import annotations

import jinja2
import pytest

from tests.matrix import (
    DEFAULTS,
    FEATURE_AXES,
    OBSERVABILITY_AXES,
    RENDER_AXES,
    VARIANTS,
    covering_variants,
    deploy_variants,
    select,
)
from tests.test_questions import copier_settings


def is_closed_question(question: object) -> bool:
    return isinstance(question, dict) and ("choices" in question or question.get("type") == "bool")


def choice_values(question: dict[str, object]) -> list[object]:
    """The values a question accepts: its choices (a list, or a mapping of label to value)."""
    if question.get("type") == "bool":
        return [False, True]
    choices = question["choices"]
    if isinstance(choices, dict):
        return list(choices.values())
    assert isinstance(choices, list)
    return choices


@pytest.mark.parametrize("axis", [*FEATURE_AXES, *RENDER_AXES])
def test_axis_covers_every_choice_default_first(axis: str) -> None:
    question = copier_settings()[axis]
    assert isinstance(question, dict)

    values = (FEATURE_AXES | RENDER_AXES)[axis]

    assert sorted(map(str, values)) == sorted(map(str, choice_values(question)))
    # A default may be a Jinja expression of earlier answers (auth's depends on database).
    default = jinja2.Template(str(question["default"])).render(**DEFAULTS)
    assert str(DEFAULTS[axis]) == default


def test_every_closed_question_is_an_axis() -> None:
    closed = {name for name, question in copier_settings().items() if is_closed_question(question)}

    assert closed == set(FEATURE_AXES) | set(RENDER_AXES)


def test_variant_ids_are_unique_and_suites_run_on_features_only() -> None:
    ids = [variant.id for variant in VARIANTS]

    assert len(ids) == len(set(ids))
    assert [variant.id for variant in VARIANTS if not variant.run_suite] == [
        f"{axis}={value}" for axis, values in RENDER_AXES.items() for value in values[1:]
    ]


def test_select_keeps_variants_matching_every_filter() -> None:
    chosen = select(
        VARIANTS,
        [
            "database=sqlite",
            "rate_limit_backend=redis",
            "sentry=false",
            "metrics=true",
            "jobs=none",
        ],
    )

    same = "rate_limit_backend=redis,sentry=false,metrics=true"
    assert [variant.id for variant in chosen] == [
        f"database=sqlite,auth=jwt,{same},tracing=false,jobs=none",
        f"database=sqlite,auth=jwt,{same},tracing=true,jobs=none",
        f"database=sqlite,auth=none,{same},tracing=false,jobs=none",
        f"database=sqlite,auth=none,{same},tracing=true,jobs=none",
    ]


def test_deploy_variants_keep_every_other_axis_with_observability_all_off_and_all_on() -> None:
    feature = [variant for variant in VARIANTS if variant.run_suite]
    chosen = deploy_variants(feature)

    assert len(chosen) * 4 == len(feature)
    for answers in ({"sentry": False, "metrics": False}, {"sentry": True, "tracing": True}):
        matching = [v for v in chosen if all(v.answers[k] == a for k, a in answers.items())]
        assert len(matching) * 2 == len(chosen)
    assert all(
        len({variant.answers[axis] for axis in OBSERVABILITY_AXES}) == 1 for variant in chosen
    )


def test_the_covering_variants_start_at_the_default_and_give_every_answer() -> None:
    covering = covering_variants(VARIANTS)

    assert covering[0].answers == DEFAULTS
    assert all(variant.run_suite for variant in covering)
    for question, values in FEATURE_AXES.items():
        assert {variant.answers[question] for variant in covering} == set(values), question
    assert len(covering) <= max(len(values) for values in FEATURE_AXES.values())


def test_the_refused_combination_is_left_out() -> None:
    assert select(VARIANTS, ["database=none", "auth=none"])
    with pytest.raises(ValueError, match="no variant matches"):
        select(VARIANTS, ["database=none", "auth=jwt"])
    with pytest.raises(ValueError, match="no variant matches"):
        select(VARIANTS, ["database=none", "jobs=taskiq"])


def test_select_without_filters_keeps_everything() -> None:
    assert select(VARIANTS, []) == VARIANTS


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        (["databse=sqlite"], "no matrix axis named databse"),
        (["database=mysql"], "no variant matches database=mysql"),
        (["database"], "expected key=value"),
    ],
)
def test_select_refuses_filters_that_cannot_match(filters: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        select(VARIANTS, filters)
