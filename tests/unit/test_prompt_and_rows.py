"""Prompt rendering (the contract's rules) and row normalization units."""

from __future__ import annotations

import pytest

from drgero.datasets.rows import RowError, messages_to_text, normalize_row, normalize_rows
from drgero.leaderboards.prompt import render_prompt


@pytest.mark.parametrize(
    ("prompt", "user_input", "expected"),
    [
        ("Q: {input}", "2+2", "Q: 2+2"),
        ("Q: {question}", "2+2", "Q: 2+2"),
        ("Q: {query}", "2+2", "Q: 2+2"),
        ("{input} and again {input}", "x", "x and again x"),
        ("{question} / {query}", "x", "x / x"),
        ('Reply as {"answer": "..."}\n{input}', "hi", 'Reply as {"answer": "..."}\nhi'),
        ("Hello {name}, {input}", "x", "Hello {name}, x"),
        ("{{input}}", "x", "{x}"),
        ("Use {input}", "literal {query} and \\1 and {0}", "Use literal {query} and \\1 and {0}"),
        ("Summarize this.", "text", "Summarize this.\n\ntext"),
        ("Summarize this.\n", "text", "Summarize this.\n\ntext"),
        ("Summarize this.\n\n", "text", "Summarize this.\n\ntext"),
        ('JSON only: {"a": 1}', "text", 'JSON only: {"a": 1}\n\ntext'),
        ("{INPUT} stays", "x", "{INPUT} stays\n\nx"),
        ("", "just input", "just input"),
    ],
)
def test_render_prompt(prompt, user_input, expected):
    assert render_prompt(prompt, user_input) == expected


def test_messages_to_text_format():
    assert messages_to_text([{"role": "user", "content": "hi"}]) == "hi"
    assert messages_to_text([{"role": "assistant", "content": "hello"}]) == "assistant: hello"
    assert (
        messages_to_text([{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}])
        == "a\nb"
    )


def test_normalized_row_shape():
    assert normalize_row({"question": "q", "expected": "a", "trace_id": "t"}) == {
        "id": "t",
        "input": "q",
        "output": "a",
        "rubric": None,
        "metadata": {},
    }


def test_content_id_ignores_metadata_but_not_content():
    a = normalize_row({"input": "q", "output": "a", "latency_ms": 1})
    b = normalize_row({"input": "q", "output": "a", "latency_ms": 2})
    c = normalize_row({"input": "q", "output": "b"})
    assert a["id"] == b["id"] != c["id"]


@pytest.mark.parametrize("value", [None, {"a": 1}, [1], True])
def test_wrong_input_types(value):
    with pytest.raises(RowError):
        normalize_row({"input": value})


def test_normalize_rows_collects_every_error_with_its_index():
    batch = normalize_rows([{"input": "ok"}, {"input": 1.5}, 7, {"input": "x" * 200}], max_row_bytes=150)
    assert len(batch.lines) == 2
    assert [e["index"] for e in batch.errors] == [2]
    assert [e["index"] for e in batch.oversize] == [3]


def test_id_too_long():
    with pytest.raises(RowError):
        normalize_row({"input": "q", "id": "x" * 257})
