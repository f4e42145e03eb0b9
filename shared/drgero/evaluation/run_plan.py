"""Planning a run: work items (model x shard of rows) and the duration estimate.

Pure: the caller supplies the dataset's row count, the models, the concurrency the pipeline
will really use (workers, the provider layer's per-worker limit) and the latencies observed
in earlier calls of the same models on the same task.

Shards are contiguous ranges of row indexes of the run's pinned dataset version, so a shard is
fully described by (run, model, start, end). Its id hashes exactly that, which makes it a
natural idempotency key: re-planning the same run gives the same ids, and a redelivered work
item finds its own completion record.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
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
    """A model to call on every row, with its observed latency (p50, and p95 when known: from
    earlier calls of it on this task)."""

    model_id: str
    observed_latency_ms: float | None = None
    observed_p95_ms: float | None = None


@dataclass(frozen=True)
class RunEstimate:
    seconds: int  # the point estimate
    low_seconds: int  # the range the run should end in
    high_seconds: int
    calls: int
    latency_ms_used: dict[str, float]  # per model (and "judge"): p50 used, observed or default
    parallel_shards: int  # shard work items running at once


def estimate_run_seconds(
    *,
    rows: int,
    models: Sequence[ModelLoad],
    shard_size: int,
    call_concurrency: int,
    workers: int,
    default_latency_ms: float,
    overhead_seconds: float,
    shard_overhead_seconds: float,
    judge: ModelLoad | None = None,
) -> RunEstimate:
    """How the pipeline really runs: every (model x shard) work item is one worker call that
    sends its rows ``call_concurrency`` at a time (the provider layer's AIMD limit per worker),
    so a shard takes ``ceil(rows / concurrency)`` latencies plus a fixed per-shard cost (S3,
    DynamoDB, scoring); a judge run judges each shard after it, the same way. ``workers`` shard
    items run at once (0: all of them, as Lambda scales an SQS source in AWS; the local cloud
    delivers one at a time). Wall time = the fan-out/aggregation overhead + the longer of the
    slowest item and the total item time spread over the workers (list scheduling).

    The point estimate uses each model's p50 latency; the range goes from 0.8 x p50 (calls
    faster than the median, no queueing) to the p95 latency (1.6 x p50 when no p95 was
    observed) with 1.5 x the overheads: the tail of a shard is its slowest calls."""
    if rows < 0:
        raise ValueError("rows must not be negative")
    if shard_size < 1 or call_concurrency < 1 or workers < 0:
        raise ValueError("shard_size and call_concurrency must be at least 1, workers at least 0")
    used: dict[str, float] = {}
    loads: list[tuple[float, float]] = []  # per model (and judge): (p50, p95) in ms
    for model in models:
        p50 = _latency(model.observed_latency_ms, default_latency_ms)
        used[model.model_id] = p50
        loads.append((p50, _latency(model.observed_p95_ms, p50 * 1.6)))
    judge_load = None
    if judge is not None:
        p50 = _latency(judge.observed_latency_ms, default_latency_ms)
        used["judge"] = p50
        judge_load = (p50, _latency(judge.observed_p95_ms, p50 * 1.6))
    sizes = [min(shard_size, rows - start) for start in range(0, rows, shard_size)]
    items = len(sizes) * len(models)
    parallel = items if workers == 0 else min(workers, items)

    def wall(pick: int, factor: float, overhead_factor: float) -> float:
        times: list[float] = []
        for size in sizes:
            waves = math.ceil(size / min(size, call_concurrency))
            for load in loads:
                item = waves * load[pick] * factor / 1000 + shard_overhead_seconds * overhead_factor
                if judge_load is not None:
                    item += waves * judge_load[pick] * factor / 1000 + shard_overhead_seconds * overhead_factor
                times.append(item)
        if not times:
            return overhead_seconds * overhead_factor
        return overhead_seconds * overhead_factor + max(max(times), sum(times) / max(parallel, 1))

    point, low, high = wall(0, 1.0, 1.0), wall(0, 0.8, 1.0), wall(1, 1.0, 1.5)
    return RunEstimate(
        seconds=max(1, math.ceil(point)),
        low_seconds=max(1, math.floor(low)),
        high_seconds=max(1, math.ceil(max(high, point))),
        calls=rows * len(models) * (2 if judge is not None else 1),
        latency_ms_used=used,
        parallel_shards=parallel,
    )


def _latency(observed: float | None, default: float) -> float:
    if observed is not None and math.isfinite(observed) and observed > 0:
        return float(observed)
    return default
