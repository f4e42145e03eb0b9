"""The sandbox's toy judge reads the judge protocol's own prompt and answers in the format the
evaluation parser reads: right answers score the top of the scale, wrong ones the bottom, the
rubric's quoted phrases count, and with nothing to check it declines rather than guess."""

from __future__ import annotations

import pytest

from drgero.evaluation.judge import JudgeOptions, build_judge_request, build_retry_request, parse_judge_answer
from localcloud.sandbox.judge import agrees, grade


def verdict(candidate: str, expected, scale: str = "0-10", rubric: str | None = None):
    options = JudgeOptions(judge_model="sandbox/judge-toy", scale=scale)
    request = build_judge_request(
        task_input="What is 40 + 2?", candidate_output=candidate, expected=expected, options=options, row_rubric=rubric
    )
    conversation = "\n\n".join(m["content"] for m in request.messages if m["role"] == "user")
    return parse_judge_answer(grade(conversation), scale)


@pytest.mark.parametrize("scale", ["0-1", "1-5", "0-10", "1-10", "0-100"])
def test_right_is_the_top_of_the_scale_and_wrong_the_bottom(scale):
    assert (verdict("42", "42", scale).kind, verdict("42", "42", scale).score) == ("scored", 1.0)
    assert (verdict("43", "42", scale).kind, verdict("43", "42", scale).score) == ("scored", 0.0)


@pytest.mark.parametrize(
    ("candidate", "reference", "right"),
    [
        ("The answer is 42.", "42", True),
        ("42.0", "42", True),
        ("paris", "Paris", True),
        ("It is William Shakespeare!", "William Shakespeare", True),
        ("420", "42", False),
        ("Shakespeare", "William Shakespeare", False),
        ("", "42", False),
    ],
)
def test_agreement_is_whole_words_after_normalizing(candidate, reference, right):
    assert agrees(candidate, reference) is right


def test_the_rubrics_quoted_phrases_are_checks_too():
    rubric = 'Must name "Paris" and "France".'
    assert verdict("Paris, France", "Paris", rubric=rubric).score == 1.0
    partial = verdict("Paris", "Paris", rubric=rubric)
    assert partial.kind == "scored" and partial.score == pytest.approx(2 / 3, abs=1e-4)
    assert "does not mention 'France'" in partial.reason


def test_with_nothing_to_check_it_declines_honestly():
    assert verdict("anything", None).kind == "refused"
    assert parse_judge_answer(grade("no judge prompt here"), "0-10").kind == "refused"


def test_a_retry_conversation_is_read_from_its_sections():
    options = JudgeOptions(judge_model="sandbox/judge-toy", scale="1-5")
    request = build_judge_request(task_input="q", candidate_output="7", expected="7", options=options)
    retry = build_retry_request(request, "banana", parse_judge_answer("banana", "1-5"))
    conversation = "\n\n".join(m["content"] for m in retry.messages if m["role"] == "user")
    answer = parse_judge_answer(grade(conversation), "1-5")
    assert (answer.kind, answer.raw_score) == ("scored", 5.0)
