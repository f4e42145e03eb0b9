"""The run item (``RUN#{run}`` / ``META``), its public view, its status transitions, and the
leaderboard's active-run marker.

Statuses::

    queued ──fanout──► running ──all shards──► aggregating ──► completed
       │                  │  └──(human)──► awaiting_review ──graded/closed──► aggregating
       │                  └──cancel──► cancelling ──all shards──► aggregating ──► cancelled (partial)
       └──cancel──► cancelled
    failed: the run could not be set up (e.g. no dataset), or it could not end by itself
    (work dead-lettered, no progress for runs.stall_seconds: drgero.runs.failure)

Every transition is a conditional update on the current status, so concurrent workers and
redelivered messages can never move a run twice. Every transition, and every shard counted,
moves ``progress_at``: the run sweep fails a run whose ``progress_at`` is too old. The
leaderboard item carries ``active_run_id`` while a run is queued/running/cancelling/aggregating
(a conditional put refuses a second run: 409); it is removed when the run reaches a final
state or awaits review. The run's active-run entry (``RUN#{run}`` / ``ACTIVE``, gsi1
``RUNS#ACTIVE``) is how the run sweep finds the runs to watch without a scan.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from drgero.core import clock
from drgero.core.errors import not_found
from drgero.leaderboards.leaderboard import get_leaderboard
from drgero.store.keys import history_index_pk, leaderboard_key, run_key
from drgero.store.table import Condition, MetadataTable, is_conditional_failure

QUEUED, RUNNING, CANCELLING, AGGREGATING = "queued", "running", "cancelling", "aggregating"
AWAITING_REVIEW, COMPLETED, CANCELLED, FAILED = "awaiting_review", "completed", "cancelled", "failed"
FINAL_STATUSES = frozenset({COMPLETED, CANCELLED, FAILED})
SOURCES = ("manual", "schedule", "dataset_improvement")

# Shard states: pending -> (judge runs: evaluated ->) done | cancelled.
SHARD_PENDING, SHARD_EVALUATED, SHARD_DONE, SHARD_CANCELLED = "pending", "evaluated", "done", "cancelled"
SHARD_FINISHED = frozenset({SHARD_DONE, SHARD_CANCELLED})

# The steps a failed run's ``error.step`` names.
STEP_FAN_OUT, STEP_EVALUATE, STEP_JUDGE, STEP_AGGREGATION = "fan-out", "evaluate", "judge", "aggregation"


def run_error(code: str, message: str, step: str) -> dict[str, str]:
    """The ``error`` of a failed run: what went wrong and in which step."""
    return {"code": code, "message": message, "step": step}


def progress_of(item: dict[str, Any]) -> str:
    """When the run last moved (``progress_at``; runs started before it existed fall back to
    when they started running, or were created)."""
    return item.get("progress_at") or item.get("running_at") or item["started_at"]


def run_history(
    table: MetadataTable, workspace_id: str, leaderboard_id: str, limit: int, cursor: str | None
) -> dict[str, Any]:
    """One page of a leaderboard's runs, newest first (gsi1). The cursor is the last page's
    ``gsi1sk`` (``{started_at}#{run_id}``); runs of another workspace are never listed."""
    get_leaderboard(table, workspace_id, leaderboard_id)  # 404 through the caller's workspace
    index_pk = history_index_pk(leaderboard_id)
    start = None
    if cursor:
        # The page token is the last gsi1sk; the start key needs the item's table key too.
        run_pk, run_sk = run_key(cursor.rsplit("#", 1)[-1])
        start = {"gsi1pk": index_pk, "gsi1sk": cursor, "pk": run_pk, "sk": run_sk}
    items, last = table.query(
        history_index_pk(leaderboard_id), index="gsi1", forward=False, limit=limit, start_key=start
    )
    return {
        "runs": [public_run(i, include_configs=False) for i in items if i.get("workspace_id") == workspace_id],
        "next_cursor": last.get("gsi1sk") if last else None,
    }


def get_run(table: MetadataTable, run_id: str) -> dict[str, Any] | None:
    if not run_id or len(run_id) > 100:
        return None
    return table.get(*run_key(run_id))


def get_run_for(table: MetadataTable, workspace_id: str, run_id: str) -> dict[str, Any]:
    """The run, only when it belongs to the caller's workspace (else 404: never reveal it)."""
    item = get_run(table, run_id)
    if not item or item.get("workspace_id") != workspace_id:
        raise not_found("Run")
    return item


def transition(
    table: MetadataTable,
    run_id: str,
    allowed_from: tuple[str, ...],
    to: str,
    extra_set: dict[str, Any] | None = None,
    extra_condition: str = "",
    extra_values: dict[str, Any] | None = None,
) -> dict[str, Any] | None:
    """Moves the run to ``to`` when its status is one of ``allowed_from``, and ``progress_at``
    to now; returns the new item, or None when the condition failed (another worker moved it,
    or it is already there)."""
    names = {"#st": "status"}
    values: dict[str, Any] = {":to": to, ":progress_at": clock.iso_millis(), **(extra_values or {})}
    sets = ["#st = :to", "progress_at = :progress_at"]
    for i, (name, value) in enumerate((extra_set or {}).items()):
        names[f"#x{i}"] = name
        values[f":x{i}"] = value
        sets.append(f"#x{i} = :x{i}")
    froms = []
    for i, status in enumerate(allowed_from):
        values[f":f{i}"] = status
        froms.append(f":f{i}")
    condition = f"#st IN ({', '.join(froms)})"
    if extra_condition:
        condition = f"{condition} AND ({extra_condition})"
    try:
        return table.update(
            *run_key(run_id),
            "SET " + ", ".join(sets),
            names,
            values,
            condition=Condition(condition),
        )
    except ClientError as exc:
        if is_conditional_failure(exc):
            return None
        raise


def release_active_marker(table: MetadataTable, run: dict[str, Any]) -> None:
    """Removes ``active_run_id`` from the leaderboard if it still names this run (idempotent;
    a deleted leaderboard or a marker of another run is left alone)."""
    try:
        table.update(
            *leaderboard_key(run["workspace_id"], run["leaderboard_id"]),
            "REMOVE active_run_id",
            condition=Condition("active_run_id = :run", values={":run": run["id"]}),
        )
    except ClientError as exc:
        if not is_conditional_failure(exc):
            raise


def ranking_of(item: dict[str, Any]) -> dict[str, Any] | None:
    """The ranking stored with a finished run (a JSON string in the item), or None."""
    raw = item.get("ranking_json")
    return json.loads(raw) if raw else None


def named_ranking(item: dict[str, Any]) -> dict[str, Any] | None:
    """The ranking with each row's model ``name`` and ``platform`` (from the run's snapshot, for
    rankings stored before rows carried them)."""
    ranking = ranking_of(item)
    if not ranking:
        return ranking
    configs = {m["id"]: m for m in item.get("model_configs") or []}
    for row in ranking.get("rows") or []:
        config = configs.get(row.get("model_id")) or {}
        row.setdefault("name", config.get("name"))
        row.setdefault("platform", config.get("platform"))
    return ranking


def _progress(item: dict[str, Any]) -> dict[str, Any]:
    """What ran: ``shards_done`` counts shards that ran to the end, ``shards_cancelled`` those a
    cancel stopped early, ``shards_finished`` both (the item's ``shards_done`` attribute counts
    every finished shard: drgero.runs.completion)."""
    finished = int(item.get("shards_done") or 0)
    cancelled = int(item.get("shards_cancelled") or 0)
    return {
        "shards_total": item.get("shards_total"),
        "shards_done": finished - cancelled,
        "shards_cancelled": cancelled,
        "shards_finished": finished,
        "rows": item.get("rows"),
        "progress_at": item.get("progress_at"),
    }


def public_run(item: dict[str, Any], *, include_configs: bool = True) -> dict[str, Any]:
    """The contract's run record (plus progress fields)."""
    view: dict[str, Any] = {
        "id": item["id"],
        "leaderboard_id": item["leaderboard_id"],
        "source": item["source"],
        "status": item["status"],
        "partial": bool(item.get("partial", False)),
        "evaluation_type": item.get("evaluation_type"),
        "model_ids": item.get("model_ids") or [],
        "created_at": item.get("created_at"),
        "started_at": item.get("started_at"),
        "finished_at": item.get("finished_at"),
        "execution_seconds": item.get("execution_seconds"),
        "estimated_seconds": item.get("estimated_seconds"),
        "estimated_range_seconds": item.get("estimated_range_seconds"),
        # Unknown costs are None (never 0); total = candidates + judge (docs/runs.md).
        "cost_usd": item.get("cost_usd"),
        "judge_cost_usd": item.get("judge_cost_usd"),
        "total_cost_usd": item.get("total_cost_usd"),
        "cost_known_usd": item.get("cost_known_usd"),  # the known part when a cost is unknown
        "progress": _progress(item),
        "ranking": named_ranking(item),
        "error": item.get("error"),
    }
    if item.get("status") == AWAITING_REVIEW or item.get("review_total") is not None:
        view["review"] = {"items": item.get("review_total"), "graded": int(item.get("grades_done") or 0)}
    if item.get("cancel_requested_at"):
        view["cancel_requested_at"] = item["cancel_requested_at"]
    if include_configs:
        view["leaderboard_config"] = item.get("leaderboard_config")
        view["model_configs"] = item.get("model_configs")
        view["dataset"] = item.get("dataset")
    return view
