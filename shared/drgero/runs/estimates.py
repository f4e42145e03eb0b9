"""A run's duration estimate (``estimated_seconds``, ``estimated_range_seconds``): which
latency each model is estimated with, then :func:`drgero.evaluation.run_plan.estimate_run_seconds`.

Sources per model, strongest first (the range widens with a weaker one, ``run_plan.SPREAD``):

1. ``last_run``: the model's p50/p95 in this leaderboard's latest completed run (the same
   calls, as traced).
2. ``observed``: our inference traces of the same OpenRouter model in the workspace
   (:mod:`drgero.providers.observed`: other prompts, same model); for a judge run the judge
   model's too. Read only when some model (or the judge) has no last-run figure: a
   leaderboard's first run, a newly attached model, every judge run.
3. ``default``: ``evaluation.default_latency_ms`` when nothing was observed.

The costs beyond the calls (the run's fixed cost: fan-out, aggregation; each shard item's: S3,
DynamoDB, queue delivery, scoring) are measured the same way, strongest first: this
leaderboard's latest completed run (``last_run``); else (a leaderboard's first run) the medians
of what the latest completed runs of the workspace's other leaderboards measured
(``workspace``: the same pipeline, account and region, other prompts); else
``evaluation.estimate_overhead_seconds`` and ``estimate_shard_overhead_seconds`` (``default``).
"""

from __future__ import annotations

import statistics
from dataclasses import replace
from typing import Any

from drgero.core.settings import Settings
from drgero.evaluation.run_plan import DEFAULT, LAST_RUN, OBSERVED, ModelLoad, RunEstimate, estimate_run_seconds
from drgero.runs import records
from drgero.store.keys import LEADERBOARD_PREFIX, history_index_pk, workspace_pk
from drgero.store.table import MetadataTable


def latest_completed(table: MetadataTable, leaderboard_id: str) -> dict[str, Any] | None:
    items, _ = table.query(history_index_pk(leaderboard_id), index="gsi1", forward=False, limit=20)
    for item in items:
        if item.get("status") == records.COMPLETED and (records.ranking_of(item) or {}).get("rows"):
            return item
    return None


def observed_latencies(run: dict[str, Any] | None) -> dict[str, tuple[float, float | None]]:
    """(p50, p95) latency per model of a completed run: every call of the same models on the
    same task, as their traces recorded them."""
    ranking = records.ranking_of(run or {}) or {}
    return {
        row["model_id"]: (float(row["latency_p50_ms"]), row.get("latency_p95_ms"))
        for row in ranking.get("rows") or []
        if row.get("latency_p50_ms") is not None
    }


def observed_overheads(settings: Settings, run: dict[str, Any] | None) -> tuple[float, float] | None:
    """What a completed run cost beyond its calls (fan-out, S3, DynamoDB, queueing, a loaded
    machine), as ``(fixed seconds, seconds per shard item)``: its measured wall time minus the
    calls' time at the latencies it observed. That time is the run's fixed cost first, up to
    ``evaluation.estimate_overhead_seconds`` (a run quicker than that figure shows it is too
    high here), the rest spread over the rounds of shard items. None without a usable run."""
    if not run or not run.get("execution_seconds") or not run.get("rows"):
        return None
    observed = observed_latencies(run)
    loads = [ModelLoad(m, *observed.get(m, (None, None))) for m in run.get("model_ids") or []]
    if not loads or len(observed) < len(loads):
        return None
    shard_size = int(run.get("shard_size") or settings.evaluation.shard_size)
    calls_only = estimate_run_seconds(
        rows=int(run["rows"]),
        models=loads,
        shard_size=shard_size,
        call_concurrency=settings.providers.aimd_initial,
        workers=settings.evaluation.estimate_workers,
        default_latency_ms=settings.evaluation.default_latency_ms,
        overhead_seconds=0.0,
        shard_overhead_seconds=0.0,
        judge=ModelLoad("judge") if run.get("evaluation_type") == "judge" else None,
    )
    items = -(-int(run["rows"]) // shard_size) * len(loads)
    rounds = -(-items // max(calls_only.parallel_shards, 1))
    extra = max(0.0, float(run["execution_seconds"]) - calls_only.seconds)
    fixed = min(extra, settings.evaluation.estimate_overhead_seconds)
    return fixed, min(30.0, (extra - fixed) / rounds)


def observed_shard_overhead(settings: Settings, run: dict[str, Any] | None) -> float | None:
    """The per-shard-item part of :func:`observed_overheads`."""
    measured = observed_overheads(settings, run)
    return None if measured is None else measured[1]


# Other leaderboards read for a first run's per-shard cost: one query each, only on a
# leaderboard's first run, so a bounded few (the most recently updated).
WORKSPACE_LEADERBOARDS = 5
WORKSPACE = "workspace"


def workspace_overheads(
    settings: Settings, table: MetadataTable, workspace_id: str, leaderboard_id: str
) -> tuple[float, float] | None:
    """The medians of the fixed and per-shard costs (:func:`observed_overheads`) the latest
    completed runs of the workspace's other leaderboards measured; None when none has them.
    The costs are the pipeline's (storage, queues, the machines it runs on), not the prompt's,
    so another leaderboard's run measures them better than fixed defaults."""
    others = [
        item
        for item in table.query_all(workspace_pk(workspace_id), LEADERBOARD_PREFIX)
        if item.get("id") and item["id"] != leaderboard_id
    ]
    others.sort(key=lambda item: str(item.get("updated_at") or item.get("created_at") or ""), reverse=True)
    measured = [
        overheads
        for item in others[:WORKSPACE_LEADERBOARDS]
        if (overheads := observed_overheads(settings, latest_completed(table, item["id"]))) is not None
    ]
    if not measured:
        return None
    return statistics.median(m[0] for m in measured), statistics.median(m[1] for m in measured)


def _openrouter_id(model: dict[str, Any]) -> str | None:
    """The OpenRouter model id a candidate calls (what inference traces are keyed by)."""
    if model.get("platform") != "openrouter":
        return None
    return (model.get("config") or {}).get("model") or None


def model_loads(
    settings: Settings,
    table: MetadataTable,
    workspace_id: str,
    model_items: list[dict[str, Any]],
    previous: dict[str, Any] | None,
    judge_model: str | None,
    judge: bool,
) -> tuple[list[ModelLoad], ModelLoad | None]:
    """Each model's (and the judge's) latency with its source (see the module docstring)."""
    from_run = observed_latencies(previous)
    lookup = None

    def elsewhere(openrouter_id: str | None, name: str) -> ModelLoad:
        nonlocal lookup
        if openrouter_id:
            if lookup is None:
                # Cold start and cost: one bounded trace query, only when a model needs it.
                from drgero.providers.observed import observed_lookup

                lookup = observed_lookup(table, settings, workspace_id)
            seen = lookup(openrouter_id)
            if seen is not None and seen.p50_ms:
                return ModelLoad(name, seen.p50_ms, seen.p95_ms, source=OBSERVED)
        return ModelLoad(name, source=DEFAULT)

    loads = [
        ModelLoad(m["id"], *from_run[m["id"]], source=LAST_RUN)
        if m["id"] in from_run
        else elsewhere(_openrouter_id(m), m["id"])
        for m in model_items
    ]
    # The judge's latency is not kept in a run's ranking: it comes from traces, or the default.
    judge_load = elsewhere(judge_model, "judge") if judge else None
    return loads, judge_load


def estimate(
    settings: Settings,
    table: MetadataTable,
    leaderboard: dict[str, Any],
    model_items: list[dict[str, Any]],
    rows: int,
    judge: bool,
    judge_model: str | None = None,
) -> RunEstimate:
    """estimated_seconds and its range, from observed latencies and the pipeline's real
    concurrency (drgero.evaluation.run_plan.estimate_run_seconds)."""
    previous = latest_completed(table, leaderboard["id"])
    loads, judge_load = model_loads(
        settings, table, leaderboard["workspace_id"], model_items, previous, judge_model, judge
    )
    overheads, overhead_source = observed_overheads(settings, previous), LAST_RUN
    if overheads is None:
        overheads = workspace_overheads(settings, table, leaderboard["workspace_id"], leaderboard["id"])
        overhead_source = WORKSPACE
    if overheads is None:
        overhead_source = DEFAULT
        overheads = (settings.evaluation.estimate_overhead_seconds, settings.evaluation.estimate_shard_overhead_seconds)
    plan = estimate_run_seconds(
        rows=rows,
        models=loads,
        shard_size=settings.evaluation.shard_size,
        call_concurrency=settings.providers.aimd_initial,
        workers=settings.evaluation.estimate_workers,
        default_latency_ms=settings.evaluation.default_latency_ms,
        overhead_seconds=overheads[0],
        shard_overhead_seconds=overheads[1],
        judge=judge_load,
        # Measured on other leaderboards' runs: as wide as latencies observed elsewhere.
        overheads_source=OBSERVED if overhead_source == WORKSPACE else overhead_source,
    )
    return replace(plan, overhead_source=overhead_source)
