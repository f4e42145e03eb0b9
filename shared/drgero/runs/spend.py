"""What each run of a workspace cost, read from the run records: ``by_run`` of
``GET /api/workspaces/{ws}/usage``.

The budget's usage counters (``drgero.identity.budget``) only see calls that reserved and
settled through a budget; a run's candidate and judge calls are recorded on the run instead
(``cost_usd`` + ``judge_cost_usd``, written once by the aggregation). So the run records are
the source of a run's spend, and :func:`merge_by_run` keeps any budget counter of a run
beside it (``spent_usd``, ``calls``) without counting anything twice: the two are different
fields, never added together.

Runs are found through each of the workspace's leaderboards (the ``gsi1`` history index,
paged): runs of a deleted leaderboard are no longer listed here (their spend stays in the
month totals of the budget counters).
"""

from __future__ import annotations

from typing import Any

from drgero.leaderboards.leaderboard import list_leaderboards
from drgero.store.keys import history_index_pk
from drgero.store.table import MetadataTable


def run_cost(run: dict[str, Any]) -> float | None:
    """Candidate plus judge cost of a finished run; None while it has not finished or when its
    candidate cost is unknown (a partial sum would read as a price)."""
    if not run.get("finished_at") or run.get("cost_usd") is None:
        return None
    return round(float(run["cost_usd"]) + float(run.get("judge_cost_usd") or 0.0), 9)


def _row(run: dict[str, Any]) -> dict[str, Any]:
    return {
        "run_id": run["id"],
        "leaderboard_id": run["leaderboard_id"],
        "status": run.get("status"),
        "cost_usd": run_cost(run),
        "finished_at": run.get("finished_at"),
    }


def run_spend(table: MetadataTable, workspace_id: str, page_size: int = 100) -> list[dict[str, Any]]:
    """``{run_id, leaderboard_id, status, cost_usd, finished_at}`` of every run of the
    workspace's leaderboards, newest first (unfinished runs first, with ``cost_usd`` null)."""
    rows: list[dict[str, Any]] = []
    for leaderboard in list_leaderboards(table, workspace_id):
        start: dict[str, Any] | None = None
        while True:
            items, start = table.query(
                history_index_pk(leaderboard["id"]), index="gsi1", forward=False, limit=page_size, start_key=start
            )
            # The index is keyed by leaderboard; the workspace check keeps tenancy explicit.
            rows.extend(_row(item) for item in items if item.get("workspace_id") == workspace_id and item.get("id"))
            if not start:
                break
    return sorted(rows, key=lambda r: (r["finished_at"] or "\uffff", r["run_id"]), reverse=True)


def merge_by_run(counted: list[dict[str, Any]], runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``by_run`` from the run records, each with the budget counters' ``spent_usd`` and
    ``calls`` for that run (0 when no budget counted it); a counted run with no record here
    (its leaderboard was deleted) is kept with ``leaderboard_id`` null."""
    by_id = {row["run_id"]: row for row in counted}
    merged = [
        {
            **run,
            "spent_usd": by_id.get(run["run_id"], {}).get("spent_usd", 0.0),
            "calls": by_id.get(run["run_id"], {}).get("calls", 0),
        }
        for run in runs
    ]
    known = {run["run_id"] for run in runs}
    merged += [
        {"run_id": row["run_id"], "leaderboard_id": None, "status": None, "cost_usd": None, "finished_at": None,
         "spent_usd": row.get("spent_usd", 0.0), "calls": row.get("calls", 0)}
        for row in counted
        if row["run_id"] not in known
    ]  # fmt: skip
    return merged
