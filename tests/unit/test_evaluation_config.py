"""Evaluation config helpers: the ranking metric of each type, and human grade normalization."""

from __future__ import annotations

from typing import Any

import pytest

from drgero.core.errors import ApiError
from drgero.evaluation.config import HumanOptions, normalize_human_grade, parse_evaluation, ranking_metric


@pytest.mark.parametrize(
    ("raw", "metric"),
    [
        ({"type": "exact"}, "pass_fail"),
        ({"type": "exact", "mode": "number"}, "pass_fail"),
        ({"type": "judge", "judge_model": "m"}, "graded"),
        ({"type": "human"}, "pass_fail"),
        ({"type": "human", "scale": "1-5"}, "graded"),
    ],
)
def test_ranking_metric(raw: dict[str, Any], metric: str) -> None:
    assert ranking_metric(parse_evaluation(raw)) == metric


@pytest.mark.parametrize(
    ("scale", "grade", "normalized"),
    [
        ("pass_fail", True, 1.0),
        ("pass_fail", False, 0.0),
        ("pass_fail", 1, 1.0),
        ("0-1", 0.25, 0.25),
        ("1-5", 1, 0.0),
        ("1-5", 4, 0.75),
        ("0-10", 10, 1.0),
    ],
)
def test_human_grades_are_normalized(scale: str, grade: Any, normalized: float) -> None:
    assert normalize_human_grade(grade, HumanOptions(scale=scale)) == pytest.approx(normalized)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("scale", "grade"),
    [
        ("pass_fail", 0.5),
        ("pass_fail", "yes"),
        ("1-5", 0),
        ("1-5", 6),
        ("1-5", True),
        ("0-10", None),
        ("0-10", float("nan")),
        ("0-1", "0.5"),
    ],
)
def test_invalid_human_grades_are_a_400(scale: str, grade: Any) -> None:
    with pytest.raises(ApiError) as caught:
        normalize_human_grade(grade, HumanOptions(scale=scale))  # type: ignore[arg-type]
    assert (caught.value.status, caught.value.code) == (400, "invalid_grade")
