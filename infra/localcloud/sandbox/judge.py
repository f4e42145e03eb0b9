"""The toy judge (``sandbox/judge-toy``): grades a candidate answer the way the judge protocol
asks (``drgero.evaluation.judge``), deterministically, from the prompt's sections alone.

It reads the last ``<reference_answer>``, ``<rubric>`` and ``<candidate_answer>`` sections and
the scale ("score from LO to HI") of the conversation and answers ``{"score", "reason"}``:

- reference: the candidate is right when, once both are normalized (case, punctuation,
  spacing, and numbers compared as numbers), it equals the reference or contains it as whole
  words ("The answer is 42." for "42");
- rubric: every phrase the rubric puts in double quotes must appear in the candidate (a
  toy's reading of "must mention"); an unquoted rubric adds no check;
- the score is the share of checks passed, mapped onto the scale (all passed: the top);
- with neither a reference nor a quoted phrase there is nothing it can check honestly: it
  declines to grade (the evaluation counts a judge refusal, never a made-up score).

It is a toy: it cannot tell a paraphrase from a wrong answer.
"""

from __future__ import annotations

import json
import re

_SECTION = {
    tag: re.compile(rf"<{tag}>\n(.*?)\n</{tag}>", re.DOTALL)
    for tag in ("task", "reference_answer", "rubric", "candidate_answer")
}
_SCALE = re.compile(r"from (-?\d+(?:\.\d+)?) to (-?\d+(?:\.\d+)?)")
_QUOTED = re.compile(r'"([^"\n]{1,200})"')
_NUMBER = re.compile(r"^-?\d+(?:\.\d+)?$")
NO_REFERENCE = "(no reference answer)"


def _last(tag: str, text: str) -> str | None:
    found = _SECTION[tag].findall(text)
    return found[-1].replace("&lt;", "<") if found else None


def _words(text: str) -> list[str]:
    cleaned = re.sub(r"[^\w.\-]+", " ", text.lower())
    words = [w.strip(".-") or w for w in cleaned.split()]
    return [_canonical(w) for w in words if w]


def _canonical(word: str) -> str:
    if _NUMBER.match(word):
        value = float(word)
        return str(int(value)) if value.is_integer() else repr(value)
    return word


def agrees(candidate: str, reference: str) -> bool:
    """The candidate equals the reference, or contains it as consecutive whole words."""
    want, have = _words(reference), _words(candidate)
    if not want:
        return False
    return any(have[i : i + len(want)] == want for i in range(len(have) - len(want) + 1))


def grade(conversation: str) -> str:
    """The judge's answer text (JSON) to a judge conversation."""
    candidate = _last("candidate_answer", conversation)
    if candidate is None:
        return json.dumps({"refusal": "I am the sandbox's toy judge: I only grade the judge protocol's prompt."})
    scales = _SCALE.findall(conversation)
    low, high = (float(scales[-1][0]), float(scales[-1][1])) if scales else (0.0, 10.0)
    reference = (_last("reference_answer", conversation) or "").strip()
    rubric = _last("rubric", conversation) or ""
    checks: list[tuple[bool, str]] = []
    if reference and reference != NO_REFERENCE:
        ok = agrees(candidate, reference)
        why = "matches the reference answer" if ok else f"does not give the reference answer {reference[:80]!r}"
        checks.append((ok, why))
    for phrase in _QUOTED.findall(rubric):
        ok = agrees(candidate, phrase)
        checks.append((ok, f"mentions {phrase!r}" if ok else f"does not mention {phrase!r}"))
    if not checks:
        return json.dumps(
            {"refusal": "I am a toy judge: with no reference answer and no quoted phrase in the rubric I cannot grade."}
        )
    share = sum(ok for ok, _ in checks) / len(checks)
    score = low + (high - low) * share
    score_out: float | int = int(score) if float(score).is_integer() else round(score, 4)
    reason = "The candidate " + "; ".join(why for _, why in checks) + "."
    return json.dumps({"score": score_out, "reason": reason})
