"""The JSON nesting bound (drgero.core.json_depth), checked before parsing."""

from __future__ import annotations

import json

import pytest

from drgero.core.errors import ApiError
from drgero.core.json_depth import check_depth, depth_exceeds


def nested(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


@pytest.mark.parametrize(("levels", "too_deep"), [(1, False), (64, False), (65, True), (5000, True)])
def test_depth_of_arrays(levels, too_deep):
    assert depth_exceeds(nested(levels), 64) is too_deep


def test_brackets_inside_strings_do_not_nest():
    text = json.dumps({"a": "[" * 500 + '\\"{' * 100, "b": [{"c": "]]]"}]}).encode()
    assert not depth_exceeds(text, 4)


def test_many_shallow_rows_are_fine():
    rows = json.dumps({"rows": [{"id": str(i), "metadata": {"tags": ["x"]}} for i in range(5000)]}).encode()
    assert not depth_exceeds(rows, 64)
    assert depth_exceeds(rows, 3)


def test_a_real_tools_schema_fits():
    leaf = {"anyOf": [{"type": "string"}, {"type": "null"}]}
    inner = {"type": "object", "properties": {"b": {"type": "object", "properties": {"c": leaf}}}}
    schema = {"type": "object", "properties": {"a": {"type": "array", "items": inner}}}
    body = json.dumps({"tools": [{"type": "function", "function": {"name": "f", "parameters": schema}}]}).encode()
    assert not depth_exceeds(body, 64)


def test_the_error_names_the_limit():
    with pytest.raises(ApiError) as refused:
        check_depth(nested(100), 64)
    assert (refused.value.status, refused.value.code, refused.value.details) == (400, "json_too_deep", {"limit": 64})
