"""Exact-match scoring: one table row per behaviour of every option, plus option validation."""

from __future__ import annotations

from typing import Any

import pytest

from drgero.core.errors import ApiError
from drgero.evaluation.config import HumanOptions, parse_evaluation
from drgero.evaluation.exact import (
    ExactMatchOptions,
    ExactScorer,
    RegexLimits,
    extract_numbers,
    find_json,
    json_equal,
    score_exact,
)

# (id, options, output, expected, passed, reason)
CASES: list[tuple[str, dict[str, Any], str, Any, bool, str]] = [
    # text: defaults are NFKC + whitespace collapse, case-sensitive, punctuation kept
    ("text-equal", {}, "Paris", "Paris", True, "match"),
    ("text-whitespace-collapsed", {}, "  New \n York\t", "New York", True, "match"),
    ("text-case-kept-by-default", {}, "paris", "Paris", False, "mismatch"),
    ("text-ignore-case", {"ignore_case": True}, "PARIS", "paris", True, "match"),
    ("text-casefold-sharp-s", {"ignore_case": True}, "STRASSE", "straße", True, "match"),
    ("text-punctuation-kept", {}, "Paris.", "Paris", False, "mismatch"),
    ("text-strip-punctuation", {"strip_punctuation": True}, "Paris!", "Paris", True, "match"),
    ("text-strip-unicode-punct", {"strip_punctuation": True}, "«Paris»", "Paris", True, "match"),
    ("text-whitespace-strip-only", {"whitespace": "strip"}, " New  York ", "New York", False, "mismatch"),
    ("text-whitespace-none", {"whitespace": "none"}, "Paris ", "Paris", False, "mismatch"),
    ("text-nfkc-fullwidth", {}, "Ｐａｒｉｓ", "Paris", True, "match"),
    ("text-nfkc-ligature", {}, "ﬁne", "fine", True, "match"),
    ("text-unicode-none", {"unicode_form": "none"}, "Ｐａｒｉｓ", "Paris", False, "mismatch"),
    ("text-non-string-expected", {}, "42", 42, True, "match"),
    ("text-any-of-list", {}, "NYC", ["New York", "NYC"], True, "match"),
    ("text-any-of-none", {}, "LA", ["New York", "NYC"], False, "mismatch"),
    # contains
    ("contains-yes", {"mode": "contains"}, "The capital is Paris.", "Paris", True, "contains"),
    ("contains-no", {"mode": "contains"}, "The capital is Lyon.", "Paris", False, "not_contained"),
    ("contains-ignore-case", {"mode": "contains", "ignore_case": True}, "PARIS!", "paris", True, "contains"),
    # number
    ("number-sentence-vs-float", {"mode": "number"}, "The answer is 42.", "42.0", True, "match"),
    ("number-last-by-default", {"mode": "number"}, "3 apples + 4 apples = 7", "7", True, "match"),
    ("number-first", {"mode": "number", "number_position": "first"}, "3 then 7", "3", True, "match"),
    (
        "number-only-ambiguous",
        {"mode": "number", "number_position": "only"},
        "3 or 7",
        "7",
        False,
        "several_numbers_in_output",
    ),
    ("number-only-repeated-ok", {"mode": "number", "number_position": "only"}, "7, so 7", "7", True, "match"),
    ("number-thousands", {"mode": "number"}, "Total: $1,234.50", "1234.5", True, "match"),
    ("number-negative", {"mode": "number"}, "It is -3.", "-3", True, "match"),
    ("number-unicode-minus", {"mode": "number"}, "It is \u22123", "-3", True, "match"),
    ("number-exponent", {"mode": "number"}, "about 1.5e3", "1500", True, "match"),
    ("number-expected-gsm8k", {"mode": "number"}, "72", "She sold 48/2 = 24... #### 72", True, "match"),
    ("number-expected-int", {"mode": "number"}, "42", 42, True, "match"),
    ("number-mismatch", {"mode": "number"}, "41.9", "42", False, "mismatch"),
    ("number-abs-tolerance", {"mode": "number", "abs_tolerance": 0.1}, "41.9", "42", True, "match"),
    ("number-abs-tolerance-edge", {"mode": "number", "abs_tolerance": 0.1}, "41.89", "42", False, "mismatch"),
    ("number-rel-tolerance", {"mode": "number", "rel_tolerance": 0.01}, "990", "1000", True, "match"),
    ("number-rel-tolerance-out", {"mode": "number", "rel_tolerance": 0.01}, "989", "1000", False, "mismatch"),
    ("number-none-in-output", {"mode": "number"}, "I don't know", "42", False, "no_number_in_output"),
    ("number-fullwidth-digits", {"mode": "number"}, "４２", "42", True, "match"),
    ("number-not-in-word", {"mode": "number"}, "H2O is 18", "18", True, "match"),
    # json
    ("json-key-order", {"mode": "json"}, '{"b": 2, "a": 1}', '{"a": 1, "b": 2}', True, "match"),
    ("json-fenced", {"mode": "json"}, 'Sure:\n```json\n{"a": [1, 2]}\n```', {"a": [1, 2]}, True, "match"),
    ("json-in-prose", {"mode": "json"}, 'Result: {"ok": true} done', '{"ok": true}', True, "match"),
    ("json-array-order-matters", {"mode": "json"}, "[2, 1]", "[1, 2]", False, "mismatch"),
    ("json-int-float", {"mode": "json"}, '{"x": 1.0}', '{"x": 1}', True, "match"),
    ("json-bool-is-not-number", {"mode": "json"}, '{"x": true}', '{"x": 1}', False, "mismatch"),
    ("json-extra-key", {"mode": "json"}, '{"a": 1, "b": 2}', '{"a": 1}', False, "mismatch"),
    ("json-tolerance", {"mode": "json", "abs_tolerance": 0.01}, '{"p": 0.333}', '{"p": 0.33}', True, "match"),
    ("json-none", {"mode": "json"}, "no json here", '{"a": 1}', False, "no_json_in_output"),
    # choice
    ("choice-answer-marker", {"mode": "choice"}, "Answer: (B)", "B", True, "match"),
    ("choice-answer-is", {"mode": "choice"}, "I think the answer is C.", "C", True, "match"),
    ("choice-last-marker-wins", {"mode": "choice"}, "Answer: A\nWait. Final answer: C", "C", True, "match"),
    ("choice-lower-bracketed", {"mode": "choice"}, "answer: (d)", "D", True, "match"),
    ("choice-lower-closing", {"mode": "choice"}, "Final answer: c)", "C", True, "match"),
    ("choice-article-is-not-a", {"mode": "choice"}, "The answer is a guess", "A", False, "no_choice_found"),
    ("choice-whole", {"mode": "choice"}, " b ", "B", True, "match"),
    ("choice-leading-label", {"mode": "choice"}, "B) Paris", "B", True, "match"),
    ("choice-leading-dot", {"mode": "choice"}, "E. none of the above", "E", True, "match"),
    ("choice-bracketed-anywhere", {"mode": "choice"}, "I'd pick (C) here", "C", True, "match"),
    ("choice-ambiguous", {"mode": "choice"}, "(A) or (B)", "A", False, "ambiguous_choice"),
    ("choice-expected-labelled", {"mode": "choice"}, "B", "(B) Paris", True, "match"),
    ("choice-outside-letters", {"mode": "choice", "choices": "ABCD"}, "E", "A", False, "no_choice_found"),
    ("choice-none", {"mode": "choice"}, "Paris", "B", False, "no_choice_found"),
    # regex: the expected answer is a pattern
    ("regex-search", {"mode": "regex"}, "The capital is Paris.", r"Paris|Lutetia", True, "match"),
    (
        "regex-fullmatch",
        {"mode": "regex", "regex_match": "fullmatch"},
        "The capital is Paris.",
        r"Paris",
        False,
        "no_match",
    ),
    ("regex-fullmatch-ok", {"mode": "regex", "regex_match": "fullmatch"}, " Paris ", r"Paris", True, "match"),
    ("regex-ignore-case", {"mode": "regex", "ignore_case": True}, "PARIS", r"paris", True, "match"),
    ("regex-case-sensitive", {"mode": "regex"}, "PARIS", r"paris", False, "no_match"),
    # extract_pattern: applies before any mode
    (
        "extract-named-group",
        {"extract_pattern": r"ANSWER:\s*(?P<answer>\w+)"},
        "blah\nANSWER: Paris",
        "Paris",
        True,
        "match",
    ),
    ("extract-group-1", {"mode": "number", "extract_pattern": r"#### (.+)"}, "2+2=4 #### 5", "5", True, "match"),
    (
        "extract-reverse-last",
        {"extract_pattern": r"(?r)ANSWER: (\w+)"},
        "ANSWER: Lyon ANSWER: Paris",
        "Paris",
        True,
        "match",
    ),
    (
        "extract-no-match-fails",
        {"extract_pattern": r"ANSWER: (\w+)"},
        "Paris",
        "Paris",
        False,
        "extract_pattern_no_match",
    ),
]


@pytest.mark.parametrize(
    ("options", "output", "expected", "passed", "reason"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_exact_match_table(options: dict[str, Any], output: str, expected: Any, passed: bool, reason: str) -> None:
    result = score_exact(output, expected, ExactMatchOptions(**options))
    assert result.error is None
    assert (result.passed, result.reason) == (passed, reason)
    assert result.score == (1.0 if passed else 0.0)


# (id, options, output, expected, error code): rows that cannot be scored are errors, not fails.
ERROR_CASES: list[tuple[str, dict[str, Any], str, Any, str]] = [
    ("missing-expected", {}, "Paris", None, "missing_expected"),
    ("blank-expected", {}, "Paris", "   ", "missing_expected"),
    ("empty-any-of", {}, "Paris", [], "missing_expected"),
    ("number-expected-without-number", {"mode": "number"}, "42", "forty-two", "invalid_expected"),
    ("number-expected-bool", {"mode": "number"}, "1", True, "invalid_expected"),
    ("json-expected-invalid", {"mode": "json"}, "{}", "{not json", "invalid_expected"),
    ("choice-expected-without-letter", {"mode": "choice"}, "B", "Paris", "invalid_expected"),
    ("regex-expected-invalid", {"mode": "regex"}, "x", "((", "invalid_expected_pattern"),
    ("regex-expected-too-long", {"mode": "regex"}, "x", "a" * 501, "invalid_expected_pattern"),
    ("regex-expected-not-string", {"mode": "regex"}, "x", 5, "invalid_expected"),
    (
        "contains-expected-empty-after-normalization",
        {"mode": "contains", "strip_punctuation": True},
        "x",
        "...",
        "invalid_expected",
    ),
]


@pytest.mark.parametrize(
    ("options", "output", "expected", "error"),
    [case[1:] for case in ERROR_CASES],
    ids=[case[0] for case in ERROR_CASES],
)
def test_unscorable_rows_are_errors_not_failures(
    options: dict[str, Any], output: str, expected: Any, error: str
) -> None:
    result = score_exact(output, expected, ExactMatchOptions(**options))
    assert result.passed is None
    assert result.score is None
    assert result.error == error


def test_catastrophic_regex_is_stopped_by_the_timeout_and_reported_as_an_error() -> None:
    # Backreference-driven backtracking: ~0.1 s at 400 characters on the regex package, growing
    # polynomially; at 4,000 characters it would run for minutes without the timeout.
    scorer = ExactScorer(ExactMatchOptions(mode="regex"), RegexLimits(timeout_seconds=0.05))
    result = scorer.score("ab" * 2000 + "!", r"^(\w+)\1*(\w+)\2*$")
    assert result.error == "regex_timeout"
    assert result.passed is None


def test_any_of_with_one_unscorable_alternative_is_an_error_unless_another_passes() -> None:
    options = ExactMatchOptions(mode="number")
    assert score_exact("7", ["seven", "7"], options).passed is True
    assert score_exact("8", ["seven", "7"], options).error == "invalid_expected"


def test_scorer_is_reusable_and_caches_row_patterns() -> None:
    scorer = ExactScorer(ExactMatchOptions(mode="regex"))
    assert [scorer.score(out, r"\d+").passed for out in ("a1", "b", "22")] == [True, False, True]


def test_extract_numbers() -> None:
    assert [str(n) for n in extract_numbers("1,234.5 and -3, .5, 2e3 but not x9")] == ["1234.5", "-3", "0.5", "2E+3"]
    assert [str(n) for n in extract_numbers("1,2345")] == ["1", "2345"]


def test_find_json_and_structural_equality() -> None:
    assert find_json("```\n[1, 2]\n```") == (True, [1, 2])
    assert find_json("nothing") == (False, None)
    assert json_equal({"a": {"b": [1, {"c": None}]}}, {"a": {"b": [1.0, {"c": None}]}})
    assert not json_equal({"a": "1"}, {"a": 1})
    assert not json_equal(False, 0)


# -- option validation (a 400 when a leaderboard is created) ----------------------------------------

INVALID_OPTIONS: list[tuple[str, dict[str, Any], str, str]] = [
    ("unknown-option", {"type": "exact", "fuzzy": True}, "evaluation.fuzzy", "Extra inputs are not permitted"),
    ("unknown-mode", {"type": "exact", "mode": "fuzzy"}, "evaluation.mode", "Input should be"),
    (
        "tolerance-on-text",
        {"type": "exact", "abs_tolerance": 0.1},
        "evaluation",
        "option(s) not valid for mode 'text': 'abs_tolerance' (applies to: json, number)",
    ),
    (
        "punctuation-on-number",
        {"type": "exact", "mode": "number", "strip_punctuation": True},
        "evaluation",
        "'strip_punctuation' (applies to: contains, text)",
    ),
    ("choices-on-text", {"type": "exact", "choices": "ABCD"}, "evaluation", "'choices' (applies to: choice)"),
    (
        "regex-match-on-contains",
        {"type": "exact", "mode": "contains", "regex_match": "fullmatch"},
        "evaluation",
        "'regex_match' (applies to: regex)",
    ),
    (
        "negative-tolerance",
        {"type": "exact", "mode": "number", "abs_tolerance": -1},
        "evaluation.abs_tolerance",
        "greater than or equal to 0",
    ),
    (
        "infinite-tolerance",
        {"type": "exact", "mode": "number", "abs_tolerance": float("inf")},
        "evaluation.abs_tolerance",
        "finite",
    ),
    (
        "rel-tolerance-above-1",
        {"type": "exact", "mode": "number", "rel_tolerance": 2},
        "evaluation.rel_tolerance",
        "less than or equal to 1",
    ),
    ("bad-choices", {"type": "exact", "mode": "choice", "choices": "AAB"}, "evaluation.choices", "distinct"),
    ("lowercase-choices", {"type": "exact", "mode": "choice", "choices": "abc"}, "evaluation.choices", "uppercase"),
    (
        "bad-pattern",
        {"type": "exact", "extract_pattern": "(("},
        "evaluation.extract_pattern",
        "invalid regular expression",
    ),
    ("long-pattern", {"type": "exact", "extract_pattern": "a" * 501}, "evaluation.extract_pattern", "the limit is 500"),
    ("wrong-type", {"type": "exact", "ignore_case": "maybe"}, "evaluation.ignore_case", "valid boolean"),
    ("unknown-type", {"type": "vibes"}, "evaluation", "does not match any of the expected tags"),
    ("missing-type", {"mode": "text"}, "evaluation", "Unable to extract tag"),
    ("judge-without-model", {"type": "judge"}, "evaluation.judge_model", "Field required"),
    ("judge-bad-scale", {"type": "judge", "judge_model": "m", "scale": "1-7"}, "evaluation.scale", "Input should be"),
    (
        "judge-attempts",
        {"type": "judge", "judge_model": "m", "max_attempts": 0},
        "evaluation.max_attempts",
        "greater than or equal to 1",
    ),
]


@pytest.mark.parametrize(
    ("raw", "field", "message"),
    [case[1:] for case in INVALID_OPTIONS],
    ids=[case[0] for case in INVALID_OPTIONS],
)
def test_invalid_evaluation_options_are_a_400_with_the_field_named(
    raw: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(ApiError) as caught:
        parse_evaluation(raw)
    error = caught.value
    assert (error.status, error.code) == (400, "invalid_evaluation")
    assert any(detail["field"] == field and message in detail["error"] for detail in error.details), error.details
    assert message in error.message


def test_evaluation_must_be_an_object() -> None:
    with pytest.raises(ApiError) as caught:
        parse_evaluation(["exact"])
    assert caught.value.status == 400


def test_pattern_limit_comes_from_the_configured_limits() -> None:
    raw = {"type": "exact", "extract_pattern": "a" * 20}
    with pytest.raises(ApiError):
        parse_evaluation(raw, RegexLimits(max_pattern_chars=10))
    assert parse_evaluation(raw).extract_pattern == "a" * 20


def test_valid_evaluations_parse_to_their_option_models() -> None:
    exact = parse_evaluation({"type": "exact", "mode": "number", "abs_tolerance": 0.5})
    assert isinstance(exact, ExactMatchOptions) and exact.abs_tolerance == 0.5
    assert isinstance(parse_evaluation({"type": "human"}), HumanOptions)
    judge = parse_evaluation({"type": "judge", "judge_model": "openai/gpt-4o-mini", "rubric": "Be strict."})
    assert judge.type == "judge" and judge.scale == "0-10"
    # Options left at their defaults never trip the mode check.
    assert parse_evaluation({"type": "exact", "mode": "json"}).ignore_case is False


def test_missing_output_is_the_models_failure_not_a_scoring_error() -> None:
    result = ExactScorer(ExactMatchOptions()).score(None, "Paris")  # type: ignore[arg-type]
    assert (result.passed, result.error) == (False, None)


def test_large_adversarial_outputs_still_score() -> None:
    # Shapes that make naive patterns backtrack quadratically; the scorer's patterns are linear
    # (timings live in bench/evaluation_core.py, not here).
    assert score_exact(" " * 50_000 + "x", "A", ExactMatchOptions(mode="choice")).reason == "no_choice_found"
    assert score_exact("1" + ",111" * 20_000 + ",1", "1", ExactMatchOptions(mode="number")).passed is True
    assert score_exact("answer" + " " * 50_000 + "x", "A", ExactMatchOptions(mode="choice")).passed is False


def test_extracted_answer_is_kept_short_for_the_run_record() -> None:
    result = score_exact("x" * 5000, "y", ExactMatchOptions())
    assert result.passed is False
    assert result.extracted is not None and len(result.extracted) <= 201
