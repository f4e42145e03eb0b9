"""The leaderboard's ``evaluation`` JSON, validated into one of three option models.

``{"type": "exact", ...}`` -> ExactMatchOptions, ``{"type": "judge", ...}`` -> JudgeOptions,
``{"type": "human"}`` -> HumanOptions. Anything else is a 400 ``invalid_evaluation`` whose
details list every problem with its location, so the API can reject a leaderboard at creation.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, TypeAdapter, ValidationError

from drgero.core.errors import ApiError
from drgero.core.validation import TextModel, field_errors
from drgero.evaluation.exact import ExactMatchOptions, RegexLimits
from drgero.evaluation.judge import JudgeOptions


class HumanOptions(TextModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["human"] = "human"
    scale: Literal["pass_fail", "0-1", "1-5", "0-10"] = "pass_fail"
    blind: bool = True  # reviewers do not see model names


EvaluationOptions = Annotated[ExactMatchOptions | JudgeOptions | HumanOptions, Field(discriminator="type")]
_ADAPTER: TypeAdapter[ExactMatchOptions | JudgeOptions | HumanOptions] = TypeAdapter(EvaluationOptions)


def parse_evaluation(
    raw: Any, regex_limits: RegexLimits | None = None
) -> ExactMatchOptions | JudgeOptions | HumanOptions:
    """Validate a leaderboard's ``evaluation`` object; raises ApiError(400, "invalid_evaluation")."""
    if not isinstance(raw, dict):
        raise ApiError(400, "invalid_evaluation", "evaluation must be a JSON object with a 'type'")
    try:
        return _ADAPTER.validate_python(raw, context={"regex_limits": regex_limits or RegexLimits()})
    except ValidationError as exc:
        cleaned = (
            {"loc": _clean_loc(error["loc"]), "msg": _message(error)}
            for error in exc.errors(include_url=False, include_input=False)
        )
        details = field_errors(cleaned, prefix=("evaluation",))
        summary = "; ".join(f"{d['field']}: {d['error']}" for d in details)
        raise ApiError(400, "invalid_evaluation", f"invalid evaluation: {summary}", details) from None


def ranking_metric(options: ExactMatchOptions | JudgeOptions | HumanOptions) -> Literal["pass_fail", "graded"]:
    """How the ranking treats this evaluation's row scores: 0/1 passes (Wilson, McNemar) or
    graded 0..1 scores (bootstrap, sign-flip test)."""
    if isinstance(options, ExactMatchOptions):
        return "pass_fail"
    if isinstance(options, HumanOptions) and options.scale == "pass_fail":
        return "pass_fail"
    return "graded"


_HUMAN_BOUNDS: dict[str, tuple[float, float]] = {
    "pass_fail": (0.0, 1.0),
    "0-1": (0.0, 1.0),
    "1-5": (1.0, 5.0),
    "0-10": (0.0, 10.0),
}


def normalize_human_grade(grade: Any, options: HumanOptions) -> float:
    """A reviewer's grade on the leaderboard's human scale -> 0..1; 400 ``invalid_grade`` if it
    is not a number on that scale (pass_fail takes true/false or 0/1)."""
    low, high = _HUMAN_BOUNDS[options.scale]
    if isinstance(grade, bool):
        if options.scale != "pass_fail":
            raise ApiError(400, "invalid_grade", f"grade must be a number from {low:g} to {high:g}")
        return 1.0 if grade else 0.0
    if not isinstance(grade, int | float) or not math.isfinite(grade) or not low <= grade <= high:
        expected = "true/false (or 1/0)" if options.scale == "pass_fail" else f"a number from {low:g} to {high:g}"
        raise ApiError(400, "invalid_grade", f"grade must be {expected}")
    if options.scale == "pass_fail" and grade not in (0, 1):
        raise ApiError(400, "invalid_grade", "grade must be true/false (or 1/0)")
    return (float(grade) - low) / (high - low)


def _clean_loc(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    # Drop the union tag pydantic inserts ("exact", "judge", ...) from the location.
    return loc[1:] if loc and loc[0] in ("exact", "judge", "human") else loc


def _message(error: Any) -> str:
    message = str(error["msg"])
    # "Value error, option(s) not valid ..." -> "option(s) not valid ..."
    return message.removeprefix("Value error, ")
