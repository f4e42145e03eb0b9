"""Traffic becomes data: a sampled inference call of a PUSH leaderboard becomes a pending
dataset row, through the same path as a push (pending batch, counters, limits).

- Sampling is deterministic: a hash of the trace id against ``sample_rate``, so a repeat of
  the capture of one call makes the same decision.
- The row's id is the trace id and the batch id is derived from it, so a repeated capture
  finds its own batch record and counts nothing twice, and consolidation deduplicates the row
  like any pushed row with an id.
- The row's input is the caller's input (before the prompt is applied: evaluation applies it
  again), its output the model's answer, its metadata the request's metadata plus where it
  came from (``source: inference``, model, trace id, latency, cost).
"""

from __future__ import annotations

import hashlib
from enum import StrEnum
from typing import Any

from drgero.inference.config import CaptureRule


class CaptureDecision(StrEnum):
    OFF = "off"  # no rule, rule disabled, or not a PUSH leaderboard
    NOT_SAMPLED = "not_sampled"
    FILTERED = "filtered"  # the request metadata does not match the rule's filter
    CAPTURE = "capture"


def sampled(trace_id: str, rate: float) -> bool:
    if rate >= 1.0:
        return True
    if rate <= 0.0:
        return False
    point = int.from_bytes(hashlib.sha256(trace_id.encode()).digest()[:8], "big") / 2**64
    return point < rate


def decide(rule: CaptureRule, dataset_mode: str, trace_id: str, metadata: dict[str, Any]) -> CaptureDecision:
    if not rule.enabled or dataset_mode != "PUSH":
        return CaptureDecision.OFF
    if not sampled(trace_id, rule.sample_rate):
        return CaptureDecision.NOT_SAMPLED
    if not rule.matches(metadata):
        return CaptureDecision.FILTERED
    return CaptureDecision.CAPTURE


def batch_id_for(trace_id: str) -> str:
    """The pending batch id of a captured call: one batch per call, stable across repeats."""
    return "b_" + hashlib.sha256(f"capture\n{trace_id}".encode()).hexdigest()[:26]


def captured_row(
    trace_id: str,
    input_text: str,
    output: str,
    metadata: dict[str, Any],
    origin: dict[str, Any],
    messages: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The dataset row of a captured call. A call made with ``messages`` is kept as its turns
    (the row's input is then the same joined text), so a run sends them as inference did."""
    row: dict[str, Any] = {"id": trace_id, "output": output, "metadata": {**metadata, "source": "inference", **origin}}
    if messages:
        row["messages"] = messages
    else:
        row["input"] = input_text
    return row
