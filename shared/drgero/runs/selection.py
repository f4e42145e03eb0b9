"""The production model of a leaderboard and its selection strategy.

- ``ranking_winner`` (default): production is the winner of the latest completed run, stored
  on the leaderboard as ``production`` (``{model_id, run_id, run_started_at, since}``). Only a
  completing run moves it (:func:`move_production`), and only forward: a run that started
  before the one that set the current production never overwrites it.
- ``manual``: ``selection.model_id`` is production; runs never move it.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from drgero.core import clock
from drgero.core.errors import ApiError
from drgero.core.validation import parse
from drgero.leaderboards.candidates import attached_model_ids
from drgero.leaderboards.leaderboard import INVALID, Selection, get_leaderboard
from drgero.runs import eligibility, production_history, records
from drgero.store.keys import history_index_pk, leaderboard_key
from drgero.store.table import Condition, MetadataTable, is_conditional_failure


def production_model(leaderboard: dict[str, Any]) -> dict[str, Any] | None:
    """``{"model_id", "strategy", "run_id"?, "since"?}`` or None when there is none yet."""
    selection = leaderboard.get("selection") or {"strategy": "ranking_winner"}
    if selection.get("strategy") == "manual":
        return {"model_id": selection.get("model_id"), "strategy": "manual"}
    production = leaderboard.get("production")
    if not production or production.get("model_id") not in attached_model_ids(leaderboard):
        return None
    return {"strategy": "ranking_winner", **production}


def move_production(table: MetadataTable, run: dict[str, Any], winner_model_id: str | None) -> bool:
    """Sets production to this completed run's winner, if the strategy is ``ranking_winner``,
    the winner is still attached, and no later-started run set it already. Idempotent."""
    if not winner_model_id:
        return False
    key = leaderboard_key(run["workspace_id"], run["leaderboard_id"])
    leaderboard = table.get(*key)
    if leaderboard is None or winner_model_id not in attached_model_ids(leaderboard):
        return False
    production = {
        "model_id": winner_model_id,
        "run_id": run["id"],
        "run_started_at": run["started_at"],
        "since": clock.iso_millis(),
    }
    update = {
        "update": key,
        "expression": "SET #prod = :prod",
        "names": {"#prod": "production"},
        "values": {":prod": production},
        "condition": Condition(
            "attribute_exists(pk) AND (attribute_not_exists(#sel) OR #sel.#st = :rw) AND "
            "(attribute_not_exists(#prod) OR #prod.#rs <= :started)",
            names={"#sel": "selection", "#st": "strategy", "#prod": "production", "#rs": "run_started_at"},
            values={":rw": "ranking_winner", ":started": run["started_at"]},
        ),
    }
    before = (production_model(leaderboard) or {}).get("model_id")
    try:
        production_history.apply(
            table, update, production_history.change_put(leaderboard, before, winner_model_id, "run", run["id"])
        )
        return True
    except ClientError as exc:
        if is_conditional_failure(exc):
            return False
        raise


def latest_completed_run(table: MetadataTable, leaderboard_id: str) -> dict[str, Any] | None:
    start = None
    for _page in range(20):
        items, start = table.query(history_index_pk(leaderboard_id), index="gsi1", forward=False, start_key=start)
        for item in items:
            if item.get("status") == records.COMPLETED:
                return item
        if not start:
            return None
    return None


def set_selection(table: MetadataTable, workspace_id: str, leaderboard_id: str, body: Any) -> dict[str, Any]:
    """PUT /api/leaderboards/{id}/selection. ``manual`` needs an attached model (409 otherwise);
    ``ranking_winner`` makes the latest completed run's winner production (if still attached)."""
    selection: Selection = body if isinstance(body, Selection) else parse(Selection, body, INVALID)
    leaderboard = get_leaderboard(table, workspace_id, leaderboard_id)
    key = leaderboard_key(workspace_id, leaderboard_id)
    values: dict[str, Any] = {":sel": selection.model_dump(mode="json", exclude_none=True), ":now": clock.iso_millis()}
    expression = "SET #sel = :sel, updated_at = :now"
    names = {"#sel": "selection"}
    missing = eligibility.missing_of(table, leaderboard)
    if selection.strategy == "manual":
        if selection.model_id not in attached_model_ids(leaderboard):
            raise ApiError(
                409,
                "model_not_attached",
                f"Model {selection.model_id} is not attached to this leaderboard; attach it first.",
            )
        eligibility.require_eligible(selection.model_id or "", missing)
    else:
        latest = latest_completed_run(table, leaderboard_id)
        ranking = records.ranking_of(latest or {}) or {}
        winner = ranking.get("winner_model_id")
        if leaderboard.get("required_capabilities"):
            winner = eligibility.best_eligible(ranking.get("rows") or [], missing, attached_model_ids(leaderboard))
        if latest and winner in attached_model_ids(leaderboard):
            names["#prod"] = "production"
            values[":prod"] = {
                "model_id": winner,
                "run_id": latest["id"],
                "run_started_at": latest["started_at"],
                "since": clock.iso_millis(),
            }
            expression += ", #prod = :prod"
    after = {**leaderboard, "selection": values[":sel"]}
    if ":prod" in values:
        after["production"] = values[":prod"]
    before_id = (production_model(leaderboard) or {}).get("model_id")
    after_id = (production_model(after) or {}).get("model_id")
    cause = "pin" if selection.strategy == "manual" else "ranking_winner"
    update = {
        "update": key,
        "expression": expression,
        "names": names,
        "values": values,
        "condition": Condition("attribute_exists(pk)"),
    }
    production_history.apply(
        table,
        update,
        production_history.change_put(
            leaderboard,
            before_id,
            after_id,
            cause,
            after.get("production", {}).get("run_id") if cause != "pin" else None,
        ),
    )
    updated = table.get(*key) or after
    return {"selection": updated.get("selection"), "production": production_model(updated)}
