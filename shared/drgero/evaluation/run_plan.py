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


# Where a model's latency comes from, strongest first: this leaderboard's last run (the same
# calls, prompts and outputs), our traces of the model elsewhere (other prompts), or nothing
# (``default_latency_ms``).
LAST_RUN, OBSERVED, DEFAULT = "last_run", "observed", "default"
# The range's spread per source: (low latency x p50, low overhead x, high latency x p95, high
# overhead x). The weaker the source, the wider: measured by ``python -m bench estimates``.
SPREAD = {
    LAST_RUN: (0.8, 1.0, 1.0, 1.5),
    OBSERVED: (0.6, 0.8, 1.3, 2.0),
    DEFAULT: (0.3, 0.5, 2.5, 2.5),
}
_STRENGTH = (LAST_RUN, OBSERVED, DEFAULT)


@dataclass(frozen=True)
class ModelLoad:
    """A model to call on every row, with its observed latency (p50, and p95 when known) and
    where it was observed (``LAST_RUN`` unless said; no usable p50: ``DEFAULT``)."""

    model_id: str
    observed_latency_ms: float | None = None
    observed_p95_ms: float | None = None
    source: str = LAST_RUN

    def source_used(self) -> str:
        usable = _usable(self.observed_latency_ms)
        return self.source if usable and self.source in SPREAD else DEFAULT


@dataclass(frozen=True)
class RunEstimate:
    seconds: int  # the point estimate
    low_seconds: int  # the range the run should end in
    high_seconds: int
    calls: int
    latency_ms_used: dict[str, float]  # per model (and "judge"): p50 used, observed or default
    parallel_shards: int  # shard work items running at once
    # The weakest latency source of the run's models (and judge): with the overheads' own
    # source, it sets the overheads' spread.
    source: str = LAST_RUN
    overhead_seconds: float = 0.0  # the run's fixed cost used beyond the calls
    shard_overhead_seconds: float = 0.0  # the per-item cost used beyond the calls
    # Where those costs came from (drgero.runs.estimates: "last_run", "workspace",
    # "default"); set by the caller, which chose it.
    overhead_source: str = DEFAULT


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
    overheads_source: str = LAST_RUN,
) -> RunEstimate:
    """How the pipeline really runs: every (model x shard) work item is one worker call that
    sends its rows ``call_concurrency`` at a time (the provider layer's AIMD limit per worker),
    so a shard takes ``ceil(rows / concurrency)`` latencies plus a fixed per-shard cost (S3,
    DynamoDB, scoring); a judge run judges each shard after it, the same way. ``workers`` shard
    items run at once (0: all of them, as Lambda scales an SQS source in AWS; the local cloud
    delivers one at a time). Wall time = the fan-out/aggregation overhead + the longer of the
    slowest item and the total item time spread over the workers (list scheduling).

    The point estimate uses each model's p50 latency; the range goes from a fraction of p50
    (calls faster than the median, no queueing) to the p95 latency (1.6 x p50 when no p95 was
    observed) times a factor, with the overheads scaled too: the tail of a shard is its
    slowest calls. The factors widen with a weaker source (:data:`SPREAD`): this
    leaderboard's last run 0.8 x p50 .. p95 with 1.5 x the overheads; latencies observed
    elsewhere, or the default latency, wider. The overheads' spread follows the weakest
    source of the run, the overheads' own included (``overheads_source``: ``LAST_RUN`` when
    this leaderboard's last run measured them, ``OBSERVED`` when other runs did, ``DEFAULT``
    for the configured figures)."""
    if rows < 0:
        raise ValueError("rows must not be negative")
    if shard_size < 1 or call_concurrency < 1 or workers < 0:
        raise ValueError("shard_size and call_concurrency must be at least 1, workers at least 0")
    used: dict[str, float] = {}
    sources: list[str] = []

    def load_of(model: ModelLoad, name: str) -> tuple[float, float, float]:
        """(p50, low, high) latencies of one call, in ms."""
        p50 = _latency(model.observed_latency_ms, default_latency_ms)
        used[name] = p50
        source = model.source_used()
        sources.append(source)
        low_factor, _, high_factor, _ = SPREAD[source]
        return p50, p50 * low_factor, _latency(model.observed_p95_ms, p50 * 1.6) * high_factor

    loads = [load_of(model, model.model_id) for model in models]
    judge_load = load_of(judge, "judge") if judge is not None else None
    weakest = max(sources, key=_STRENGTH.index) if sources else LAST_RUN
    overheads_from = overheads_source if overheads_source in SPREAD else DEFAULT
    _, low_overhead, _, high_overhead = SPREAD[max(weakest, overheads_from, key=_STRENGTH.index)]
    sizes = [min(shard_size, rows - start) for start in range(0, rows, shard_size)]
    items = len(sizes) * len(models)
    parallel = items if workers == 0 else min(workers, items)

    def wall(pick: int, overhead_factor: float) -> float:
        times: list[float] = []
        for size in sizes:
            waves = math.ceil(size / min(size, call_concurrency))
            for load in loads:
                item = waves * load[pick] / 1000 + shard_overhead_seconds * overhead_factor
                if judge_load is not None:
                    item += waves * judge_load[pick] / 1000 + shard_overhead_seconds * overhead_factor
                times.append(item)
        if not times:
            return overhead_seconds * overhead_factor
        return overhead_seconds * overhead_factor + max(max(times), sum(times) / max(parallel, 1))

    point, low, high = wall(0, 1.0), wall(1, low_overhead), wall(2, high_overhead)
    return RunEstimate(
        seconds=max(1, math.ceil(point)),
        low_seconds=max(1, math.floor(min(low, point))),
        high_seconds=max(1, math.ceil(max(high, point))),
        calls=rows * len(models) * (2 if judge is not None else 1),
        latency_ms_used=used,
        parallel_shards=parallel,
        source=weakest,
        overhead_seconds=overhead_seconds,
        shard_overhead_seconds=shard_overhead_seconds,
    )


def _usable(observed: float | None) -> bool:
    return observed is not None and math.isfinite(observed) and observed > 0


def _latency(observed: float | None, default: float) -> float:
    return float(observed) if observed is not None and _usable(observed) else default
