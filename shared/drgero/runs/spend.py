"""What each run of a workspace cost, read from the run records: ``by_run`` of
``GET /api/workspaces/{ws}/usage``.

The budget accounts (``drgero.identity.budget``) count spend by token and month, not by run;
a run's candidate and judge calls are recorded on the run itself (``cost_usd`` +
``judge_cost_usd``, written once by the aggregation). So the run records are the one source of
a run's spend, whoever started it (a session, a token with or without a budget).

Runs are found through each of the workspace's leaderboards (the ``gsi1`` history index,
paged): runs of a deleted leaderboard are no longer listed here.
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
