"""Every change of a leaderboard's production model, recorded with the change itself.

Item (docs/data-model.md): ``LB#{lb}`` / ``PRODHIST#{at}#{change_id}`` with ``at``,
``from_model_id``, ``to_model_id`` (None: no production model any more), ``cause`` (``run``:
a completed run's winner; ``pin``: a manual selection; ``ranking_winner``: the selection went
back to the ranking; ``model_removed``: production fell to the next ranked model) and
``run_id`` when a run decided. The put is an operation of the same DynamoDB transaction that
moves the production pointer, so a change and its record never exist one without the other;
``from`` is the production model as read just before that conditional write.
"""

from __future__ import annotations

from typing import Any

from drgero.core import clock
from drgero.core.ids import new_id
from drgero.leaderboards.leaderboard import get_leaderboard
from drgero.store.keys import PRODUCTION_HISTORY_PREFIX, leaderboard_pk, production_history_key
from drgero.store.table import Condition, MetadataTable

CAUSES = ("run", "pin", "ranking_winner", "model_removed")


def change_put(
    leaderboard: dict[str, Any], from_model_id: str | None, to_model_id: str | None, cause: str, run_id: str | None
) -> dict[str, Any] | None:
    """The transaction operation recording a change, or None when production stays the same."""
    if from_model_id == to_model_id:
        return None
    at = clock.iso_millis()
    pk, sk = production_history_key(leaderboard["id"], at, new_id("chg"))
    item = {
        "pk": pk,
        "sk": sk,
        "workspace_id": leaderboard["workspace_id"],
        "leaderboard_id": leaderboard["id"],
        "at": at,
        "from_model_id": from_model_id,
        "to_model_id": to_model_id,
        "cause": cause,
        "run_id": run_id,
    }
    return {"put": item, "condition": Condition("attribute_not_exists(pk)")}


def apply(table: MetadataTable, update: dict[str, Any], record: dict[str, Any] | None) -> None:
    """The production update, with its record in the same transaction when there is one."""
    if record is None:
        pk, sk = update["update"]
        table.update(pk, sk, update["expression"], update.get("names"), update.get("values"), update.get("condition"))
        return
    table.transact([update, record])


def history(table: MetadataTable, workspace_id: str, leaderboard_id: str, limit: int = 100) -> dict[str, Any]:
    """``GET /api/leaderboards/{id}/production-history``: the changes, newest first."""
    get_leaderboard(table, workspace_id, leaderboard_id)  # 404 through the caller's workspace
    items, _last = table.query(leaderboard_pk(leaderboard_id), PRODUCTION_HISTORY_PREFIX, forward=False, limit=limit)
    changes = [
        {k: item.get(k) for k in ("at", "from_model_id", "to_model_id", "cause", "run_id")}
        for item in items
        if item.get("workspace_id") == workspace_id
    ]
    return {"leaderboard_id": leaderboard_id, "changes": changes}
