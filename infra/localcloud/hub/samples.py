"""The sample dataset repos the local hub ships, generated (deterministically) into ``hub_dir``.

Owner ``drgero-samples``; every file is rewritten at each start, so the same bytes always give
the same commit and an edited sample comes back as shipped. Your own repos go under any other
owner folder and are never touched (docs/local-cloud.md, "The local Hugging Face hub").

- ``drgero-samples/arithmetic``: ``train.jsonl``, 40 ``a op b`` questions (exact or judge);
  branches ``main`` and ``v1`` (a revision other than main).
- ``drgero-samples/short-answer-qa``: ``qa.jsonl``, short factual questions with a reference
  answer and a per-row rubric (judge evaluation).
- ``drgero-samples/arithmetic-gz``: ``data/test.jsonl.gz``, 30 questions, gzip-compressed.
- ``drgero-samples/private-arithmetic``: ``train.jsonl``, private: visible only with
  :data:`SAMPLE_TOKEN` (add it as the workspace's Hugging Face integration).
- ``drgero-samples/gated-arithmetic``: ``train.jsonl``, gated, with nobody granted: every
  read answers the Hub's GatedRepo error.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

OWNER = "drgero-samples"
SAMPLE_TOKEN = "hf_local_sample_token_0123456789"  # noqa: S105 - the local hub's toy credential

# Short-answer questions, their reference answers and what a good answer must say. The
# sandbox's almanac toy (sandbox/almanac) knows these answers; the others do not.
QA: list[tuple[str, str, str]] = [
    ("What is the capital of France?", "Paris", 'The answer must name "Paris".'),
    ("What is the chemical symbol for gold?", "Au", 'The answer must give the symbol "Au".'),
    ("How many days are in a leap year?", "366", "A number, 366; words around it are fine."),
    ("Which planet is known as the Red Planet?", "Mars", 'The answer must name "Mars".'),
    ("What is the boiling point of water at sea level in Celsius?", "100", "100 degrees Celsius."),
    ("Who wrote 'Romeo and Juliet'?", "William Shakespeare", 'The answer must name "Shakespeare".'),
    ("What is the largest ocean on Earth?", "Pacific Ocean", 'The answer must name the "Pacific".'),
    ("How many continents are there?", "7", "The number seven."),
    ("What gas do plants absorb from the air for photosynthesis?", "Carbon dioxide", 'Must say "carbon dioxide".'),
    ("What is the square root of 81?", "9", "The number nine."),
    ("In which year did the first person walk on the Moon?", "1969", "The year 1969."),
    ("What is the freezing point of water in Fahrenheit?", "32", "32 degrees Fahrenheit."),
]


def arithmetic(count: int, start: int = 0) -> list[dict[str, Any]]:
    """``count`` distinct ``a op b`` rows with their exact answers (what the exact toy solves)."""
    rows = []
    for i in range(start, start + count):
        a, b = 12 + 3 * i, 2 + (i * 5) % 17
        op = "+-*"[i % 3]
        answer = a + b if op == "+" else a - b if op == "-" else a * b
        rows.append({"id": f"arith-{i:03d}", "question": f"What is {a} {op} {b}?", "answer": str(answer)})
    return rows


def qa_rows() -> list[dict[str, Any]]:
    return [
        {"id": f"qa-{n:02d}", "question": question, "expected": answer, "rubric": rubric}
        for n, (question, answer, rubric) in enumerate(QA)
    ]


def _jsonl(rows: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode()


def sample_repos() -> dict[str, tuple[dict[str, bytes], dict[str, Any]]]:
    """``{repo_id: (files, .hub.json config)}`` of every shipped sample."""
    return {
        f"{OWNER}/arithmetic": ({"train.jsonl": _jsonl(arithmetic(40))}, {"branches": ["main", "v1"]}),
        f"{OWNER}/short-answer-qa": ({"qa.jsonl": _jsonl(qa_rows())}, {}),
        # mtime=0: gzip's header carries a timestamp, and the bytes (so the commit) must not change.
        f"{OWNER}/arithmetic-gz": ({"data/test.jsonl.gz": gzip.compress(_jsonl(arithmetic(30, 40)), mtime=0)}, {}),
        f"{OWNER}/private-arithmetic": (
            {"train.jsonl": _jsonl(arithmetic(20, 70))},
            {"private": True, "tokens": [SAMPLE_TOKEN]},
        ),
        f"{OWNER}/gated-arithmetic": ({"train.jsonl": _jsonl(arithmetic(10, 90))}, {"gated": True, "tokens": []}),
    }


def write_samples(hub_dir: str | Path) -> list[str]:
    """Writes the samples under ``{hub_dir}/datasets/drgero-samples/``; returns their repo ids.
    Only changed files are rewritten (an unchanged file keeps its mtime)."""
    written = []
    for repo_id, (files, config) in sample_repos().items():
        folder = Path(hub_dir) / "datasets" / repo_id
        wanted = dict(files)
        if config:
            wanted[".hub.json"] = (json.dumps(config, indent=2) + "\n").encode()
        for name, content in wanted.items():
            path = folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.exists() or path.read_bytes() != content:
                path.write_bytes(content)
        written.append(repo_id)
    return written
