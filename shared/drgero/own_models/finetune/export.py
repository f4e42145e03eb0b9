"""A leaderboard's dataset version as chat-format training JSONL.

One line per row that has an expected output::

    {"messages": [{"role": "user", "content": <the leaderboard prompt rendered with the row's
    input>}, {"role": "assistant", "content": <the row's expected output>}]}

exactly what the model will be asked at run and inference time (``drgero.leaderboards.prompt.render_prompt``),
so the tuned model learns the task as Dr.Gero will pose it. Rows without an expected output
cannot teach anything and are skipped (counted).

The validation split is deterministic per row: a row goes to validation when the first 8
bytes of ``sha256(row id)``, as a fraction of 2**64, fall below ``validation_fraction``. The
same row lands on the same side in every job and every retry, so validation losses of
successive jobs compare like with like, and a resumed export writes the same bytes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from drgero.core.errors import ApiError
from drgero.leaderboards.prompt import render_prompt


@dataclass(frozen=True)
class Export:
    training: bytes
    validation: bytes
    training_rows: int
    validation_rows: int
    skipped_rows: int

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.training + b"\0" + self.validation).hexdigest()


def in_validation(row_id: str, fraction: float) -> bool:
    if fraction <= 0:
        return False
    digest = hashlib.sha256(row_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def example(prompt: str, row: dict[str, Any]) -> dict[str, Any]:
    return {
        "messages": [
            {"role": "user", "content": render_prompt(prompt, str(row.get("input") or ""))},
            {"role": "assistant", "content": str(row["output"])},
        ]
    }


def _line(record: dict[str, Any]) -> bytes:
    return (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


def build_export(
    prompt: str,
    rows: Iterable[dict[str, Any]],
    *,
    validation_fraction: float = 0.0,
    max_rows: int,
    min_rows: int,
    max_bytes: int,
) -> Export:
    """The training (and validation) files. 409 ``not_enough_rows`` below ``min_rows``
    training examples; 409 ``training_file_too_large`` above ``max_bytes``. At most
    ``max_rows`` usable rows are exported, in dataset order."""
    training: list[bytes] = []
    validation: list[bytes] = []
    size = 0
    skipped = 0
    for row in rows:
        output = row.get("output")
        if output is None or str(output) == "":
            skipped += 1
            continue
        if len(training) + len(validation) >= max_rows:
            break
        line = _line(example(prompt, row))
        size += len(line)
        if size > max_bytes:
            raise ApiError(
                409,
                "training_file_too_large",
                f"The exported training data would exceed {max_bytes} bytes; lower the rows or raise the limit.",
                {"max_bytes": max_bytes},
            )
        row_id = str(row.get("id") or hashlib.sha256(line).hexdigest())
        (validation if in_validation(row_id, validation_fraction) else training).append(line)
    if len(training) < min_rows:
        raise ApiError(
            409,
            "not_enough_rows",
            f"Fine-tuning needs at least {min_rows} training rows with an expected output; "
            f"this dataset version has {len(training)}.",
            {"training_rows": len(training), "min_rows": min_rows, "skipped_rows": skipped},
        )
    return Export(b"".join(training), b"".join(validation), len(training), len(validation), skipped)
