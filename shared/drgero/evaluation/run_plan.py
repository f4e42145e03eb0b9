"""Planning a run: work items (model x shard of rows) and the duration estimate.

Pure: the caller supplies the dataset's row count, the models, the concurrency it will use
and latencies observed in earlier traces.

Shards are contiguous ranges of row indexes of the run's pinned dataset version, so a shard is
fully described by (run, model, start, end). Its id hashes exactly that, which makes it a
natural idempotency key: re-planning the same run gives the same ids, and a redelivered work
item finds its own completion record.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class WorkItem:
    shard_id: str
    run_id: str
    model_id: str
    shard_index: int  # 0-based, per model
    shard_count: int  # shards of this model
    row_start: int  # first row index (inclusive)
    row_end: int  # last row index (exclusive)

    @property
    def row_count(self) -> int:
        return self.row_end - self.row_start


def shard_id(run_id: str, model_id: str, row_start: int, row_end: int) -> str:
    """Deterministic id of one shard: ``shd_`` + 24 hex chars of SHA-256 over its definition."""
    digest = hashlib.sha256(f"{run_id}\x1f{model_id}\x1f{row_start}\x1f{row_end}".encode()).hexdigest()
    return f"shd_{digest[:24]}"


def plan_shards(run_id: str, model_ids: Sequence[str], row_count: int, shard_size: int) -> list[WorkItem]:
    """Every (model, shard) work item, interleaved by shard index (shard 0 of every model, then
    shard 1, ...) so models progress together and a cancelled run leaves comparable partials."""
    if not run_id:
        raise ValueError("run_id is required")
    if shard_size < 1:
        raise ValueError("shard_size must be at least 1")
    if row_count < 0:
        raise ValueError("row_count must not be negative")
    if any(not model_id for model_id in model_ids):
        raise ValueError("model ids must be non-empty")
    if len(set(model_ids)) != len(model_ids):
        raise ValueError("model ids must be unique")
    shard_count = math.ceil(row_count / shard_size)
    items: list[WorkItem] = []
    for index in range(shard_count):
        start = index * shard_size
        end = min(start + shard_size, row_count)
        for model_id in model_ids:
            items.append(
                WorkItem(
                    shard_id=shard_id(run_id, model_id, start, end),
                    run_id=run_id,
                    model_id=model_id,
                    shard_index=index,
                    shard_count=shard_count,
                    row_start=start,
                    row_end=end,
                )
            )
    return items


@dataclass(frozen=True)
class ModelLoad:
    """A model to call on every row. Models in the same ``concurrency_group`` (typically one
    provider account: provider + key) share that group's concurrency limit."""

    model_id: str
    concurrency_group: str
    observed_latency_ms: float | None = None  # e.g. median latency from earlier traces


@dataclass(frozen=True)
class RunEstimate:
    seconds: int
    calls: int
    group_seconds: dict[str, float]  # busy time of each concurrency group
    latency_ms_used: dict[str, float]  # per model (and "judge"), observed or default


def estimate_run_seconds(
    *,
    rows: int,
    models: Sequence[ModelLoad],
    concurrency: Mapping[str, int],
    default_concurrency: int,
    default_latency_ms: float,
    overhead_seconds: float,
    judge: ModelLoad | None = None,
) -> RunEstimate:
    """Wall time ~ max over concurrency groups of (sum of rows x latency of its calls) / its
    concurrency, plus a fixed overhead (fan-out, queue delivery, aggregation). Groups run in
    parallel; within a group calls are limited by its concurrency. A judge makes one call per
    (row, model) in its own group, overlapping the candidate calls as shards finish."""
    if rows < 0:
        raise ValueError("rows must not be negative")
    if default_concurrency < 1 or any(v < 1 for v in concurrency.values()):
        raise ValueError("concurrency must be at least 1")
    busy_ms: dict[str, float] = {}
    used: dict[str, float] = {}
    calls = 0
    for model in models:
        latency = _latency(model, default_latency_ms)
        used[model.model_id] = latency
        busy_ms[model.concurrency_group] = busy_ms.get(model.concurrency_group, 0.0) + rows * latency
        calls += rows
    if judge is not None:
        latency = _latency(judge, default_latency_ms)
        used["judge"] = latency
        judge_calls = rows * len(models)
        busy_ms[judge.concurrency_group] = busy_ms.get(judge.concurrency_group, 0.0) + judge_calls * latency
        calls += judge_calls
    group_seconds = {group: ms / 1000.0 / concurrency.get(group, default_concurrency) for group, ms in busy_ms.items()}
    wall = max(group_seconds.values(), default=0.0) + overhead_seconds
    return RunEstimate(seconds=max(1, math.ceil(wall)), calls=calls, group_seconds=group_seconds, latency_ms_used=used)


def _latency(model: ModelLoad, default_latency_ms: float) -> float:
    observed = model.observed_latency_ms
    if observed is not None and math.isfinite(observed) and observed > 0:
        return float(observed)
    return default_latency_ms
