"""Dataset rows: one normalization + validation for PUSH requests and GET-mode files alike.

A raw row is a JSON object in any of the contract's shapes; a normalized row is::

    {"id": str, "input": str, "output": str | None, "rubric": str | None, "metadata": {...}}

Field aliases (first present, non-null wins), from the contract:

- input: ``input``, ``prompt``, ``question``, ``query``; else ``messages`` (a chat list) turned
  into text by :func:`messages_to_text`
- output: ``output``, ``response``, ``completion``, ``answer``, ``expected``
- ``rubric`` (optional judge rubric)
- id: ``id``, ``example_id``, ``trace_id``; else a stable hash of the row's content
- ``metadata`` (a JSON object); ``tags``, ``user_id``, ``session_id``, ``conversation_id``,
  ``latency_ms``, ``cost_usd``, ``model``, ``provider`` are kept in metadata too; any other
  top-level field is kept in metadata as well (nothing the caller sent is silently dropped).

This is a hot path (every pushed row, every line of a Hugging Face file), so it is plain
Python over dicts rather than a pydantic model: ``bench/datasets.py`` measures both (the same
rules as a pydantic model gave 20-50% fewer rows/s across runs), and the rules below are simple
enough to read as code. Every error names the field; the caller attaches the row index.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from drgero.core.validation import control_character

INPUT_ALIASES = ("input", "prompt", "question", "query")
OUTPUT_ALIASES = ("output", "response", "completion", "answer", "expected")
ID_ALIASES = ("id", "example_id", "trace_id")
METADATA_FIELDS = (
    "tags",
    "user_id",
    "session_id",
    "conversation_id",
    "latency_ms",
    "cost_usd",
    "model",
    "provider",
)
_KNOWN = frozenset((*INPUT_ALIASES, *OUTPUT_ALIASES, *ID_ALIASES, "messages", "rubric", "metadata"))
MAX_ID_CHARS = 256


class RowError(ValueError):
    """One row is not acceptable; the message says which field and why."""


class RowTooLarge(RowError):
    """The normalized row is larger than the configured per-row limit."""


@dataclass
class NormalizedBatch:
    """The result of normalizing many rows: JSON lines for the good ones, errors for the rest."""

    lines: list[bytes] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    oversize: list[dict[str, Any]] = field(default_factory=list)


def _text(value: Any, name: str, required: bool) -> str | None:
    if value is None:
        if required:
            raise RowError(f"'{name}' is required")
        return None
    if isinstance(value, bool):
        raise RowError(f"'{name}' must be a string, not a boolean")
    if isinstance(value, int | float):
        # Numeric answers are common in benchmarks ("answer": 42): kept as their JSON text.
        return json.dumps(value)
    if not isinstance(value, str):
        raise RowError(f"'{name}' must be a string, not {_json_type(value)}")
    # The one control-character rule of every text field (drgero.core.validation).
    bad = control_character(value)
    if bad:
        raise RowError(f"'{name}' contains the control character {bad}")
    return value


def _json_type(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    return type(value).__name__


def _content_text(content: Any, index: int) -> str:
    """A message's content: a string, or OpenAI-style parts of which the text parts are joined."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if isinstance(part, str):
                texts.append(part)
            elif isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str):
                texts.append(part["text"])
            elif isinstance(part, dict) and part.get("type") in {"image_url", "input_audio", "file"}:
                continue  # non-text parts carry no text to evaluate on; documented
            else:
                raise RowError(f"'messages[{index}].content' has a part that is neither text nor a known media part")
        return "\n".join(texts)
    if content is None:
        return ""
    raise RowError(f"'messages[{index}].content' must be a string or a list of parts")


def messages_to_text(messages: Any) -> str:
    """Chat messages as one text input.

    A single user message becomes its content as is. Anything else becomes one block per
    message, ``"{role}: {content}"``, blocks separated by a blank line, in order, e.g.
    ``"system: Be brief.\\n\\nuser: Hi\\n\\nassistant: Hello!\\n\\nuser: What is 2+2?"``.
    Content may be a string or a list of parts (text parts are joined by newlines; image/audio/
    file parts are skipped).
    """
    if not isinstance(messages, list) or not messages:
        raise RowError("'messages' must be a non-empty array of {role, content} objects")
    blocks = []
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            raise RowError(f"'messages[{index}]' must be an object with role and content")
        role = message.get("role")
        if not isinstance(role, str) or not role:
            raise RowError(f"'messages[{index}].role' must be a non-empty string")
        blocks.append((role, _content_text(message.get("content"), index)))
    if len(blocks) == 1 and blocks[0][0] == "user":
        return blocks[0][1]
    return "\n\n".join(f"{role}: {text}" for role, text in blocks)


def _first(row: dict[str, Any], names: tuple[str, ...]) -> tuple[str | None, Any]:
    for name in names:
        value = row.get(name)
        if value is not None:
            return name, value
    return None, None


def content_id(input_text: str, output: str | None, rubric: str | None) -> str:
    """The id of a row that has none: a hash of its content (input, output, rubric).

    Metadata is left out on purpose, so the same example pushed twice with different timing or
    cost metadata is recognized as the same row when the dataset is deduplicated."""
    digest = hashlib.sha256(
        json.dumps([input_text, output, rubric], ensure_ascii=False, separators=(",", ":")).encode()
    ).hexdigest()
    return f"h_{digest[:32]}"


def normalize_row(row: Any) -> dict[str, Any]:
    """One raw row -> a normalized row, or RowError saying what is wrong."""
    if not isinstance(row, dict):
        raise RowError(f"a row must be a JSON object, not {_json_type(row)}")
    input_name, input_value = _first(row, INPUT_ALIASES)
    if input_name is not None:
        input_text = _text(input_value, input_name, required=True)
    elif row.get("messages") is not None:
        input_text = _text(messages_to_text(row["messages"]), "messages", required=True)
    else:
        raise RowError("the row has no input: send one of input, prompt, question, query or messages")
    assert input_text is not None
    if not input_text.strip():
        raise RowError(f"'{input_name or 'messages'}' is empty")
    output_name, output_value = _first(row, OUTPUT_ALIASES)
    output = _text(output_value, output_name or "output", required=False)
    rubric = _text(row.get("rubric"), "rubric", required=False)

    row_id = _row_id(row, input_text, output, rubric)
    normalized = {"id": row_id, "input": input_text, "output": output, "rubric": rubric, "metadata": _metadata(row)}
    if input_name is None:
        # Kept as turns: runs send them to chat models the way inference does
        # (drgero.leaderboards.prompt.render_turns), so what is evaluated is what is served.
        normalized["messages"] = row["messages"]
    return normalized


def _row_id(row: dict[str, Any], input_text: str, output: str | None, rubric: str | None) -> str:
    """The row's own id when it sends one, else one derived from its content."""
    id_name, id_value = _first(row, ID_ALIASES)
    if id_name is None:
        return content_id(input_text, output, rubric)
    if isinstance(id_value, bool) or not isinstance(id_value, str | int):
        raise RowError(f"'{id_name}' must be a string or an integer")
    row_id = _text(str(id_value), id_name, required=True)
    assert row_id is not None
    if not row_id or len(row_id) > MAX_ID_CHARS:
        raise RowError(f"'{id_name}' must be 1 to {MAX_ID_CHARS} characters")
    return row_id


def _metadata(row: dict[str, Any]) -> dict[str, Any]:
    """``metadata`` plus every field the row format does not know (kept, not dropped)."""
    metadata_value = row.get("metadata")
    if metadata_value is None:
        metadata: dict[str, Any] = {}
    elif isinstance(metadata_value, dict):
        metadata = dict(metadata_value)
    else:
        raise RowError(f"'metadata' must be an object, not {_json_type(metadata_value)}")
    if len(row) > 2:  # fast path: {"input", "output"} rows carry nothing else
        for name, value in row.items():
            if name not in _KNOWN and value is not None:
                metadata.setdefault(name, value)
    return metadata


def encode_row(row: dict[str, Any]) -> bytes:
    """The JSONL line of a normalized row (UTF-8, no trailing newline)."""
    return json.dumps(row, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def normalize_rows(rows: list[Any], max_row_bytes: int) -> NormalizedBatch:
    """Normalizes every row; collects errors per index instead of stopping at the first one.

    Oversize rows (their normalized JSON line over ``max_row_bytes``) are reported separately
    because the contract answers them with 413 rather than 400."""
    batch = NormalizedBatch()
    for index, raw in enumerate(rows):
        try:
            row = normalize_row(raw)
            line = encode_row(row)
        except RowError as exc:
            batch.errors.append({"index": index, "error": str(exc)})
            continue
        except (TypeError, ValueError) as exc:  # e.g. metadata holding a value JSON cannot hold
            batch.errors.append({"index": index, "error": f"the row cannot be stored as JSON: {exc}"})
            continue
        if len(line) > max_row_bytes:
            batch.oversize.append(
                {"index": index, "error": f"the row is {len(line)} bytes; the limit is {max_row_bytes} bytes"}
            )
            continue
        batch.lines.append(line)
        batch.ids.append(row["id"])
    return batch
