"""The production model of a leaderboard and its selection strategy.

- ``ranking_winner`` (default): production is the winner of the latest completed run, stored
  on the leaderboard as ``production`` (``{model_id, run_id, run_started_at, since}``). Only a
  completing run moves it (:func:`move_production`), and only forward: a run that started
  before the one that set the current production never overwrites it.
- ``manual``: ``selection.model_id`` is production; runs never move it.

For a ``drgero`` candidate production also names ``model_version``: the Dr.Gero model version
the run ranked (ranking_winner) or the one the manual selection pinned (given, else the
version the latest completed run ranked, else the model's current version at selection
time). Inference calls exactly that version, never one no run (or pin) chose: a fine-tune
adding a new current version changes nothing until a run ranks it.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from drgero.core import clock
from drgero.core.errors import ApiError, not_found
from drgero.core.validation import parse
from drgero.leaderboards.candidates import attached_model_ids
from drgero.leaderboards.leaderboard import INVALID, Selection, get_leaderboard
from drgero.runs import eligibility, production_history, records
from drgero.store.keys import candidate_key, history_index_pk, leaderboard_key
from drgero.store.table import Condition, MetadataTable, is_conditional_failure


def production_model(leaderboard: dict[str, Any]) -> dict[str, Any] | None:
    """``{"model_id", "strategy", "run_id"?, "since"?}`` or None when there is none yet."""
    selection = leaderboard.get("selection") or {"strategy": "ranking_winner"}
    if selection.get("strategy") == "manual":
        manual = {"model_id": selection.get("model_id"), "strategy": "manual"}
        if selection.get("model_version") is not None:
            manual["model_version"] = int(selection["model_version"])
        return manual
    production = leaderboard.get("production")
    if not production or production.get("model_id") not in attached_model_ids(leaderboard):
        return None
    return {"strategy": "ranking_winner", **production}


def evaluated_version(run: dict[str, Any] | None, model_id: str) -> int | None:
    """The Dr.Gero model version ``run`` evaluated for candidate ``model_id`` (its snapshot),
    or None (not a drgero candidate, or a run from before runs named versions)."""
    for config in (run or {}).get("model_configs") or []:
        if config.get("id") == model_id and config.get("version") is not None:
            return int(config["version"])
    return None


def ranked_production(run: dict[str, Any], model_id: str) -> dict[str, Any]:
    """The ``production`` record of ``model_id`` as ``run`` ranked it."""
    production: dict[str, Any] = {
        "model_id": model_id,
        "run_id": run["id"],
        "run_started_at": run["started_at"],
        "since": clock.iso_millis(),
    }
    version = evaluated_version(run, model_id)
    if version is not None:
        production["model_version"] = version
    return production


def move_production(table: MetadataTable, run: dict[str, Any], winner_model_id: str | None) -> bool:
    """Sets production to this completed run's winner, if the strategy is ``ranking_winner``,
    the winner is still attached, and no later-started run set it already. Idempotent."""
    if not winner_model_id:
        return False
    key = leaderboard_key(run["workspace_id"], run["leaderboard_id"])
    leaderboard = table.get(*key)
    if leaderboard is None or winner_model_id not in attached_model_ids(leaderboard):
        return False
    production = ranked_production(run, winner_model_id)
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
        version = _manual_version(table, workspace_id, leaderboard_id, selection)
        if version is not None:
            values[":sel"]["model_version"] = version
    else:
        latest = latest_completed_run(table, leaderboard_id)
        ranking = records.ranking_of(latest or {}) or {}
        winner = ranking.get("winner_model_id")
        if leaderboard.get("required_capabilities"):
            winner = eligibility.best_eligible(ranking.get("rows") or [], missing, attached_model_ids(leaderboard))
        if latest and winner in attached_model_ids(leaderboard):
            names["#prod"] = "production"
            values[":prod"] = ranked_production(latest, winner)
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


def _manual_version(table: MetadataTable, workspace_id: str, leaderboard_id: str, selection: Selection) -> int | None:
    """The Dr.Gero model version a manual selection pins (None for other platforms): the one
    asked for (it must exist), else the version the latest completed run ranked, else the
    model's current version now - stored, so a later fine-tune does not move production."""
    item = table.get(*candidate_key(leaderboard_id, selection.model_id or "")) or {}
    if item.get("platform") != "drgero":
        if selection.model_version is not None:
            raise ApiError(400, "invalid_request", "model_version applies only to a drgero candidate.",
                           [{"field": "model_version", "error": "not a drgero candidate"}])  # fmt: skip
        return None
    # own_models imports leaderboards, which imports runs.records: bound at call time.
    from drgero.own_models.registry import version_to_evaluate

    dgm = (item.get("config") or {}).get("model_id", "")
    if selection.model_version is not None:
        if version_to_evaluate(table, workspace_id, dgm, selection.model_version) is None:
            raise not_found(f"Version {selection.model_version} of the Dr.Gero model")
        return selection.model_version
    ranked = evaluated_version(latest_completed_run(table, leaderboard_id), selection.model_id or "")
    if ranked is not None:
        return ranked
    current = version_to_evaluate(table, workspace_id, dgm, item.get("pinned_version"))
    if current is None:
        raise not_found("Dr.Gero model")
    return current[0]
