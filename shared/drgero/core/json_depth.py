"""A bound on how deeply a JSON request body nests, checked before it is parsed.

Python's JSON parser recurses once per level: a 10 KB body nested 5,000 levels deep raises
``RecursionError`` (a 5xx if nothing catches it), and even below that limit a deep document
costs work out of proportion to its size. Every JSON surface (push, inference, the api
function's routes) refuses a body nested deeper than ``api.max_json_depth`` levels with 400
``json_too_deep`` before parsing it. The default, 64, admits real payloads: OpenAI ``tools``
and ``json_schema`` documents nest a dozen levels at most.

The scan is linear and mostly C: string literals are removed with one regex (brackets inside
strings do not nest), everything but brackets is deleted with ``bytes.translate``, and only the
brackets left are walked in Python. A body with fewer opening brackets than the limit cannot
be too deep and is not scanned at all.
"""

from __future__ import annotations

import re

from drgero.core.errors import ApiError

_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def depth_exceeds(data: bytes, limit: int) -> bool:
    """Whether the JSON text ``data`` nests deeper than ``limit`` arrays/objects."""
    if data.count(b"[") + data.count(b"{") <= limit:
        return False
    brackets = _STRING.sub(b"", data).translate(None, _NOT_BRACKETS)
    depth = 0
    for byte in brackets:
        if byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def check_depth(data: bytes, limit: int) -> None:
    """400 ``json_too_deep`` when ``data`` nests deeper than ``limit`` (api.max_json_depth)."""
    if depth_exceeds(data, limit):
        raise ApiError(
            400,
            "json_too_deep",
            f"The request body nests deeper than {limit} levels (api.max_json_depth).",
            {"limit": limit},
        )
