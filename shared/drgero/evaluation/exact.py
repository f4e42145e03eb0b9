"""Deterministic exact-match scoring of one model output against a row's expected answer.

A leaderboard's ``evaluation`` is ``{"type": "exact", "mode": ..., <options>}``; the options are
the fields of ``ExactMatchOptions`` below and every one is documented in docs/evaluation.md.
An option that does not apply to the chosen mode is rejected (a 400 at leaderboard creation)
instead of being silently ignored.

Outcomes are three-valued on purpose: ``passed`` is True/False when the output could be
judged, and None with an ``error`` code when the row itself could not be scored (missing
expected answer, an invalid per-row pattern, a regex that ran out of time). A scoring error
is the dataset's or the configuration's fault, never the model's, so it must not become a
zero: the ranking reports it separately.

Regular expressions come from users (the leaderboard's ``extract_pattern``, or each row's
expected answer in ``regex`` mode), so they run on the ``regex`` package, whose matching
functions take a ``timeout``; Python's ``re`` cannot be interrupted. Patterns are also capped in
length, and compiled patterns are cached.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any, Literal

import regex
from pydantic import ConfigDict, Field, ValidationInfo, field_validator, model_validator

from drgero.core.validation import TextModel

ExactMode = Literal["text", "contains", "number", "json", "choice", "regex"]
ALL_MODES: frozenset[str] = frozenset({"text", "contains", "number", "json", "choice", "regex"})

# Which modes each option applies to. Setting an option explicitly for another mode is an error.
OPTION_MODES: dict[str, frozenset[str]] = {
    "ignore_case": frozenset({"text", "contains", "regex"}),
    "whitespace": frozenset({"text", "contains", "regex"}),
    "strip_punctuation": frozenset({"text", "contains"}),
    "unicode_form": ALL_MODES,
    "abs_tolerance": frozenset({"number", "json"}),
    "rel_tolerance": frozenset({"number", "json"}),
    "number_position": frozenset({"number"}),
    "choices": frozenset({"choice"}),
    "regex_match": frozenset({"regex"}),
    "extract_pattern": ALL_MODES,
}


@dataclass(frozen=True)
class RegexLimits:
    """Guards for user-supplied patterns (values come from ``EvaluationSettings``)."""

    max_pattern_chars: int = 500
    timeout_seconds: float = 0.1

    @classmethod
    def from_settings(cls, evaluation_settings: Any) -> RegexLimits:
        return cls(
            max_pattern_chars=evaluation_settings.regex_max_pattern_chars,
            timeout_seconds=evaluation_settings.regex_timeout_seconds,
        )


class ExactMatchOptions(TextModel):
    """The ``evaluation`` object of an exact-match leaderboard."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["exact"] = "exact"
    mode: ExactMode = Field("text", description="How output and expected answer are compared.")
    ignore_case: bool = Field(False, description="Compare case-insensitively (Unicode casefold).")
    whitespace: Literal["collapse", "strip", "none"] = Field(
        "collapse", description="collapse: trim and squeeze runs to one space; strip: trim only."
    )
    strip_punctuation: bool = Field(False, description="Remove Unicode punctuation (categories P*).")
    unicode_form: Literal["NFKC", "NFC", "none"] = Field("NFKC", description="Unicode normalization form.")
    abs_tolerance: float = Field(0.0, ge=0.0, description="Numbers equal when |a - e| <= abs_tolerance.")
    rel_tolerance: float = Field(0.0, ge=0.0, le=1.0, description="...or |a - e| <= rel_tolerance * |e|.")
    number_position: Literal["last", "first", "only"] = Field(
        "last", description="Which number of the output is the answer; only: exactly one distinct number."
    )
    choices: str = Field("ABCDE", description="The choice letters, e.g. ABCD.")
    regex_match: Literal["search", "fullmatch"] = Field(
        "search", description="regex mode: the row's pattern must occur in / match all of the output."
    )
    extract_pattern: str | None = Field(
        None,
        description="Regex applied to the output first; group 'answer', else group 1, else the match.",
    )

    @field_validator("abs_tolerance", "rel_tolerance")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value

    @field_validator("choices")
    @classmethod
    def _choices(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Z]{2,26}", value) or len(set(value)) != len(value):
            raise ValueError("must be 2 to 26 distinct uppercase letters, e.g. 'ABCD'")
        return value

    @field_validator("extract_pattern")
    @classmethod
    def _pattern(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        limits = _limits_from(info)
        problem = pattern_problem(value, limits)
        if problem:
            raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _options_fit_mode(self) -> ExactMatchOptions:
        wrong = sorted(
            name for name in self.model_fields_set if name in OPTION_MODES and self.mode not in OPTION_MODES[name]
        )
        if wrong:
            parts = [f"'{name}' (applies to: {', '.join(sorted(OPTION_MODES[name]))})" for name in wrong]
            raise ValueError(f"option(s) not valid for mode '{self.mode}': {'; '.join(parts)}")
        return self


def _limits_from(info: ValidationInfo) -> RegexLimits:
    context = info.context or {}
    limits = context.get("regex_limits")
    return limits if isinstance(limits, RegexLimits) else RegexLimits()


def pattern_problem(pattern: str, limits: RegexLimits) -> str | None:
    """Why a user pattern is unusable (too long, does not compile), or None."""
    if len(pattern) > limits.max_pattern_chars:
        return f"pattern is {len(pattern)} characters; the limit is {limits.max_pattern_chars}"
    try:
        _compile(pattern, 0)
    except regex.error as exc:
        return f"invalid regular expression: {exc}"
    return None


@lru_cache(maxsize=512)
def _compile(pattern: str, flags: int) -> regex.Pattern[str]:
    return regex.compile(pattern, flags)


@dataclass(frozen=True)
class ExactResult:
    """One scored row. ``passed`` is None exactly when ``error`` is set."""

    passed: bool | None
    reason: str
    error: str | None = None
    extracted: str | None = None

    @property
    def score(self) -> float | None:
        return None if self.passed is None else (1.0 if self.passed else 0.0)


_EXTRACTED_MAX_CHARS = 200  # ``extracted`` is for audit in run outputs, not a second copy of the output


def _ok(passed: bool, reason: str, extracted: str | None) -> ExactResult:
    if extracted is not None and len(extracted) > _EXTRACTED_MAX_CHARS:
        extracted = extracted[:_EXTRACTED_MAX_CHARS] + "…"
    return ExactResult(passed=passed, reason=reason, extracted=extracted)


def _error(code: str, reason: str) -> ExactResult:
    return ExactResult(passed=None, reason=reason, error=code)


class _RegexTimeout(Exception):
    """A user pattern exceeded its time budget."""


class ExactScorer:
    """Scores outputs for one leaderboard's options; build once per shard and reuse."""

    def __init__(self, options: ExactMatchOptions, limits: RegexLimits | None = None) -> None:
        self.options = options
        self.limits = limits or RegexLimits()
        letters = options.choices
        self._choice = _ChoicePatterns(letters)

    def score(self, output: str, expected: Any) -> ExactResult:
        """Compare ``output`` with ``expected``; a list ``expected`` (not in json mode) means any-of.
        An empty or missing output is the model's failure, not a scoring error."""
        output = output or ""
        if expected is None or (isinstance(expected, str) and not expected.strip()):
            return _error("missing_expected", "the row has no expected answer")
        if self.options.mode != "json" and isinstance(expected, list):
            if not expected:
                return _error("missing_expected", "the row's list of expected answers is empty")
            results = [self.score(output, item) for item in expected]
            for result in results:
                if result.passed:
                    return result
            errors = [r for r in results if r.error]
            # Any-of fails only when every alternative was judged; an unscorable one makes it an error.
            return errors[0] if errors else results[-1]
        try:
            answer = self._extract(self._unicode(output))
            if answer is None:
                return _ok(False, "extract_pattern_no_match", None)
            return self._compare(answer, expected)
        except _RegexTimeout:
            return _error("regex_timeout", f"a pattern ran longer than {self.limits.timeout_seconds}s")

    # -- steps ---------------------------------------------------------------------------------

    def _unicode(self, text: str) -> str:
        form = self.options.unicode_form
        return text if form == "none" else unicodedata.normalize(form, text)

    def _extract(self, output: str) -> str | None:
        pattern = self.options.extract_pattern
        if pattern is None:
            return output
        match = self._search(_compile(pattern, 0), output)
        if match is None:
            return None
        if "answer" in match.re.groupindex:
            return match.group("answer") or ""
        return (match.group(1) if match.re.groups else match.group(0)) or ""

    def _search(self, compiled: regex.Pattern[str], text: str, full: bool = False) -> regex.Match[str] | None:
        try:
            if full:
                return compiled.fullmatch(text, timeout=self.limits.timeout_seconds)
            return compiled.search(text, timeout=self.limits.timeout_seconds)
        except TimeoutError as exc:
            raise _RegexTimeout from exc

    def _compare(self, answer: str, expected: Any) -> ExactResult:
        mode = self.options.mode
        if mode == "text":
            got, want = self._text(answer), self._text(_as_text(expected))
            return _ok(got == want, "match" if got == want else "mismatch", got)
        if mode == "contains":
            got, want = self._text(answer), self._text(_as_text(expected))
            if not want:
                return _error("invalid_expected", "the expected answer is empty after normalization")
            return _ok(want in got, "contains" if want in got else "not_contained", got)
        if mode == "number":
            return self._number(answer, expected)
        if mode == "json":
            return self._json(answer, expected)
        if mode == "choice":
            return self._choice_letter(answer, expected)
        return self._regex(answer, expected)

    def _text(self, text: str) -> str:
        opts = self.options
        text = self._unicode(text)
        if opts.ignore_case:
            text = text.casefold()
        if opts.strip_punctuation:
            text = "".join(ch for ch in text if not unicodedata.category(ch).startswith("P"))
        if opts.whitespace == "collapse":
            text = " ".join(text.split())
        elif opts.whitespace == "strip":
            text = text.strip()
        return text

    def _number(self, answer: str, expected: Any) -> ExactResult:
        if isinstance(expected, bool):
            return _error("invalid_expected", "the expected answer is not a number")
        if isinstance(expected, int | float):
            want: Decimal | None = _to_decimal(repr(expected)) if math.isfinite(expected) else None
        else:
            numbers = extract_numbers(self._unicode(_as_text(expected)))
            want = numbers[-1] if numbers else None
        if want is None:
            return _error("invalid_expected", "the expected answer holds no number")
        found = extract_numbers(answer)
        if not found:
            return _ok(False, "no_number_in_output", None)
        position = self.options.number_position
        if position == "only":
            if len(set(found)) > 1:
                return _ok(False, "several_numbers_in_output", None)
            got = found[0]
        else:
            got = found[0] if position == "first" else found[-1]
        equal = numbers_equal(got, want, self.options.abs_tolerance, self.options.rel_tolerance)
        return _ok(equal, "match" if equal else "mismatch", str(got))

    def _json(self, answer: str, expected: Any) -> ExactResult:
        if isinstance(expected, str):
            want_found, want = find_json(expected)
            if not want_found:
                return _error("invalid_expected", "the expected answer is not valid JSON")
        else:
            want = expected
        found, got = find_json(answer)
        if not found:
            return _ok(False, "no_json_in_output", None)
        equal = json_equal(got, want, self.options.abs_tolerance, self.options.rel_tolerance)
        return _ok(equal, "match" if equal else "mismatch", json.dumps(got, sort_keys=True))

    def _choice_letter(self, answer: str, expected: Any) -> ExactResult:
        want, why = self._choice.extract(_as_text(expected))
        if want is None:
            return _error("invalid_expected", f"the expected answer names no choice letter ({why})")
        got, why = self._choice.extract(answer)
        if got is None:
            return _ok(False, why, None)
        return _ok(got == want, "match" if got == want else "mismatch", got)

    def _regex(self, answer: str, expected: Any) -> ExactResult:
        if not isinstance(expected, str):
            return _error("invalid_expected", "in regex mode the expected answer must be a pattern string")
        problem = pattern_problem(expected, self.limits)
        if problem:
            return _error("invalid_expected_pattern", problem)
        flags = regex.IGNORECASE if self.options.ignore_case else 0
        text = answer
        if self.options.whitespace == "collapse":
            text = " ".join(text.split())
        elif self.options.whitespace == "strip":
            text = text.strip()
        match = self._search(_compile(expected, flags), text, full=self.options.regex_match == "fullmatch")
        return _ok(match is not None, "match" if match else "no_match", match.group(0) if match else None)


def score_exact(
    output: str, expected: Any, options: ExactMatchOptions, limits: RegexLimits | None = None
) -> ExactResult:
    """One-shot form of ``ExactScorer(options, limits).score(output, expected)``."""
    return ExactScorer(options, limits).score(output, expected)


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


# -- numbers -------------------------------------------------------------------------------------

# A number not glued to a word or a decimal point: optional sign (ASCII or U+2212 minus),
# digits with optional comma thousands separators, optional fraction, optional exponent.
# Linear-time by construction: the thousands form is possessive and only starts where a number
# can start, so a long "1,111,111,..." run is not rescanned from every comma.
_NUMBER = re.compile(
    r"(?<![\w.])(?P<sign>[-+\u2212])?"
    r"(?P<int>(?<![\d,])\d{1,3}(?:,\d{3})++(?![\d,])|\d+)?"
    r"(?P<frac>\.\d+)?"
    r"(?:[eE](?P<exp>[-+]?\d+))?"
)


def extract_numbers(text: str) -> list[Decimal]:
    """Every number in ``text``, in order ("1,234.5" -> 1234.5, "-3", ".5", "2e3")."""
    found: list[Decimal] = []
    for match in _NUMBER.finditer(text):
        if not match.group("int") and not match.group("frac"):
            continue
        raw = (match.group("int") or "0").replace(",", "") + (match.group("frac") or "")
        if match.group("exp"):
            raw += "e" + match.group("exp")
        value = _to_decimal(raw)
        if value is None:
            continue
        if match.group("sign") in ("-", "\u2212"):
            value = -value
        found.append(value)
    return found


def _to_decimal(raw: str) -> Decimal | None:
    try:
        value = Decimal(raw)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def numbers_equal(got: Decimal, want: Decimal, abs_tolerance: float, rel_tolerance: float) -> bool:
    """|got - want| <= max(abs_tolerance, rel_tolerance * |want|); exact Decimal equality at 0."""
    diff = abs(got - want)
    allowed = max(Decimal(repr(abs_tolerance)), Decimal(repr(rel_tolerance)) * abs(want))
    return diff <= allowed


# -- JSON ----------------------------------------------------------------------------------------

_FENCE = re.compile(r"```[ \t]*(?:json|JSON)?[ \t]*\n(.*?)```", re.DOTALL)
_JSON_DECODER = json.JSONDecoder()
_MAX_JSON_STARTS = 64  # how many '{' / '[' positions to try in prose before giving up


def find_json(text: str) -> tuple[bool, Any]:
    """The JSON value in ``text``: the whole text, else a fenced block, else the first decodable
    object or array in the prose. Returns (found, value)."""
    stripped = text.strip()
    try:
        return True, json.loads(stripped)
    except ValueError:
        pass  # not pure JSON: look for it inside fences or prose below
    for block in _FENCE.findall(text):
        try:
            return True, json.loads(block.strip())
        except ValueError:
            continue
    tries = 0
    for index, char in enumerate(text):
        if char not in "{[":
            continue
        tries += 1
        if tries > _MAX_JSON_STARTS:
            break
        try:
            value, _end = _JSON_DECODER.raw_decode(text, index)
        except ValueError:
            continue
        return True, value
    return False, None


def json_equal(got: Any, want: Any, abs_tolerance: float = 0.0, rel_tolerance: float = 0.0) -> bool:
    """Structural equality: object key order is irrelevant, array order matters, booleans are not
    numbers, numbers compare by value (1 == 1.0) within the tolerances."""
    if isinstance(want, bool) or isinstance(got, bool):
        return isinstance(want, bool) and isinstance(got, bool) and got == want
    if isinstance(want, int | float) and isinstance(got, int | float):
        if not (math.isfinite(got) and math.isfinite(want)):
            return got == want
        return numbers_equal(Decimal(repr(got)), Decimal(repr(want)), abs_tolerance, rel_tolerance)
    if isinstance(want, dict) and isinstance(got, dict):
        return got.keys() == want.keys() and all(
            json_equal(got[key], want[key], abs_tolerance, rel_tolerance) for key in want
        )
    if isinstance(want, list) and isinstance(got, list):
        return len(got) == len(want) and all(
            json_equal(g, w, abs_tolerance, rel_tolerance) for g, w in zip(got, want, strict=True)
        )
    return type(got) is type(want) and got == want


# -- choice letters ------------------------------------------------------------------------------


class _ChoicePatterns:
    """Finds the chosen letter, most explicit form first:

    1. an answer marker: "Answer: (B)", "the answer is B", "Final answer: b)" - the last one wins
       (models revise themselves); a bare lowercase letter is only accepted in brackets there,
       so "the answer is a bit long" does not read as A;
    2. the whole output is one letter: "B", "(b)", "B.";
    3. the output starts with a labelled letter: "B) Paris", "(B) Paris", "B. Paris", "B: Paris";
    4. exactly one distinct bracketed letter anywhere: "I pick (C) because...".
    Different letters at levels 3-4 ("(A) or (B)", "B) ..., not (C)") are ambiguous: no answer.
    """

    def __init__(self, letters: str) -> None:
        upper = re.escape(letters)
        both = re.escape(letters + letters.lower())
        bracketed = rf"[(\[]\s{{0,3}}([{both}])\s{{0,3}}[)\]]"
        self.letters = letters
        # After a marker: "(b)", "b)", "B" - a bare letter must be uppercase (checked in extract,
        # since the marker words make the pattern case-insensitive).
        self.marker = re.compile(
            rf"\b(?:final\s{{1,10}})?(?:answer|option|choice)\s{{0,10}}(?:is|:|=)?\s{{0,10}}(?:option\s{{1,10}})?"
            rf"(?:{bracketed}|([{both}])\s{{0,3}}[)\]]|([{upper}])(?![\w]))",
            re.IGNORECASE,
        )
        # Matched against the stripped text: no leading/trailing \s* that could backtrack.
        self.whole = re.compile(rf"[(\[]?\s*([{both}])\s*[)\].:]?")
        self.leading = re.compile(rf"\s*[(\[]?([{upper}])[)\].:](?:\s|$)")
        self.bracketed = re.compile(bracketed)

    def extract(self, text: str) -> tuple[str | None, str]:
        last: str | None = None
        for match in self.marker.finditer(text):
            bare = match.group(3)
            if bare is not None and bare not in self.letters:
                continue  # a lowercase bare letter after a marker is prose ("answer is a ...")
            last = (match.group(1) or match.group(2) or bare).upper()
        if last:
            return last, "answer_marker"
        whole = self.whole.fullmatch(text.strip())
        if whole:
            return whole.group(1).upper(), "whole_output"
        bracketed = {m.group(1).upper() for m in self.bracketed.finditer(text)}
        leading = self.leading.match(text)
        if leading and bracketed <= {leading.group(1)}:
            return leading.group(1), "leading_label"
        if len(bracketed) == 1:
            return bracketed.pop(), "bracketed"
        if len(bracketed) > 1 or leading:
            return None, "ambiguous_choice"
        return None, "no_choice_found"
