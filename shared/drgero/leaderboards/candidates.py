"""Candidate models on a leaderboard, as stored: keys, views, listing, loading, removal.

Attaching one (parse, validate against the provider, store, Idempotency-Key, auto-select)
is :mod:`drgero.leaderboards.attach`; everything about a candidate once it is attached is here.

Items (docs/data-model.md), all in the leaderboard's partition ``LB#{lb}``:
- ``MODEL#{model_id}``: platform, display name, the target config WITHOUT its secret, the
  secret as KMS ciphertext (encryption context :func:`secret_context` binds it to workspace,
  leaderboard and model: a ciphertext copied elsewhere does not decrypt), a masked hint, and
  for OpenRouter models the catalog price at attach time.
- ``MODELKEY#{sha256(identity)}``: makes "the same model twice" impossible, even under
  concurrent attaches (conditional put in the attach transaction).
The leaderboard item (``WS#{ws}`` / ``LB#{lb}``) keeps ``models``: public summaries, updated
in the same transaction, so the leaderboard view and the model items never disagree.

Removing a model that the production selection pins (``selection.strategy == "manual"``)
is refused with 409 ``model_in_production``, by a condition in the removal transaction, so
the selection can never point at a removed model. (A ``ranking_winner`` selection must be
resolved among the models still attached: :func:`attached_model_ids`.) :func:`remove` is the
route's removal: also never while the active run uses the model, and production falls to the
next ranked model.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Annotated, Any

from botocore.exceptions import ClientError
from pydantic import Field, TypeAdapter

from drgero.core import clock, secrets
from drgero.core.aws import AwsClients
from drgero.core.errors import ApiError, not_found
from drgero.core.settings import Settings
from drgero.leaderboards.leaderboard import get_leaderboard
from drgero.providers.types import (
    CustomTarget,
    DrGeroTarget,
    HuggingFaceTarget,
    OpenRouterTarget,
)
from drgero.runs import records
from drgero.store.keys import (
    CANDIDATE_PREFIX,
    candidate_identity_key,
    candidate_key,
    leaderboard_key,
    leaderboard_pk,
    run_key,
)
from drgero.store.table import Condition, MetadataTable, is_conditional_failure

Target = OpenRouterTarget | CustomTarget | HuggingFaceTarget | DrGeroTarget
_TARGET: TypeAdapter[Target] = TypeAdapter(Annotated[Target, Field(discriminator="platform")])


def identity_key(leaderboard_id: str, target: Target) -> tuple[str, str]:
    if isinstance(target, OpenRouterTarget):
        identity = f"openrouter\n{target.model}"
    elif isinstance(target, DrGeroTarget):
        identity = f"drgero\n{target.model_id}"
    else:
        identity = f"{target.platform}\n{target.url}\n{target.model or ''}"
    return candidate_identity_key(leaderboard_id, identity)


def secret_context(workspace_id: str, leaderboard_id: str, model_id: str) -> dict[str, str]:
    """The KMS encryption context of a candidate's secret (:mod:`drgero.core.secrets`)."""
    return {
        "workspace_id": workspace_id,
        "leaderboard_id": leaderboard_id,
        "model_id": model_id,
        "purpose": "model_secret",
    }


def public_model(item: dict[str, Any]) -> dict[str, Any]:
    """The API view of an attached model: config, never the secret (a hint at most)."""
    view = {
        "id": item["id"],
        "platform": item["platform"],
        "name": item["name"],
        "config": item["config"],
        "created_at": item["created_at"],
    }
    if item.get("secret_hint"):
        view["secret"] = {"configured": True, "hint": item["secret_hint"]}
    if item.get("pricing"):
        view["pricing"] = item["pricing"]
    if item["platform"] == "drgero":
        # null: each run evaluates the model's current version; a number: that version only.
        view["pinned_version"] = item.get("pinned_version")
    if item.get("supported_parameters"):
        view["supported_parameters"] = item["supported_parameters"]
    return view


def summary(item: dict[str, Any]) -> dict[str, Any]:
    """The entry of the leaderboard item's ``models`` list."""
    return {"id": item["id"], "platform": item["platform"], "name": item["name"], "created_at": item["created_at"]}


# ------------------------------------------------------------------ reading
def list_models(table: MetadataTable, workspace_id: str, leaderboard_id: str) -> list[dict[str, Any]]:
    get_leaderboard(table, workspace_id, leaderboard_id)
    return [public_model(i) for i in table.query_all(leaderboard_pk(leaderboard_id), CANDIDATE_PREFIX, consistent=True)]


def get_attached(table: MetadataTable, workspace_id: str, leaderboard_id: str, model_id: str) -> dict[str, Any]:
    item = table.get(*candidate_key(leaderboard_id, model_id))
    get_leaderboard(table, workspace_id, leaderboard_id)
    if not item or item.get("workspace_id") != workspace_id:
        raise not_found("Model")
    return public_model(item)


def attached_model_ids(leaderboard: dict[str, Any]) -> set[str]:
    """Ids of the models currently attached (a ranking winner must be one of these)."""
    return {m["id"] for m in leaderboard.get("models") or []}


def load_target(
    table: MetadataTable,
    settings: Settings,
    clients: AwsClients,
    workspace_id: str,
    leaderboard_id: str,
    model_id: str,
    version: int | None = None,
) -> tuple[Target, dict[str, Any]]:
    """The callable target (secret decrypted, for the provider call only) and its item.

    ``version``: for a ``drgero`` candidate, the Dr.Gero model version to call (the one a run
    snapshotted or production serves), read from the model, not from the attach-time copy;
    404 when that version is gone. Without it, the candidate's stored config (what runs
    recorded before they named versions evaluated)."""
    item = table.get(*candidate_key(leaderboard_id, model_id))
    return target_of(table, settings, clients, item, workspace_id, leaderboard_id, model_id, version), item


def target_of(
    table: MetadataTable,
    settings: Settings,
    clients: AwsClients,
    item: dict[str, Any] | None,
    workspace_id: str,
    leaderboard_id: str,
    model_id: str,
    version: int | None = None,
) -> Target:
    """:func:`load_target` of a candidate ``item`` the caller already read (the evaluate
    worker reads it with the shard and the run in one BatchGetItem)."""
    if not item or item.get("workspace_id") != workspace_id:
        raise not_found("Model")
    if version is not None and item.get("platform") == "drgero":
        # own_models imports this module (identity_key): bound at call time.
        from drgero.own_models.registry import version_target

        model = item["config"]["model_id"]
        target = version_target(table, settings, clients, workspace_id, model, version, include_deleting=True)
        if target is None:
            raise not_found(f"Version {version} of the Dr.Gero model")
        return target
    config = dict(item["config"])
    if item.get("secret_ciphertext"):
        secret = secrets.unseal(
            settings, clients, item["secret_ciphertext"], secret_context(workspace_id, leaderboard_id, model_id)
        )
        if config["platform"] == "huggingface":
            config["token"] = secret
        else:
            config["auth"] = {**config.get("auth", {}), "secret": secret}
    return _TARGET.validate_python(config)


# ------------------------------------------------------------------ removal
def remove(table: MetadataTable, workspace_id: str, leaderboard_id: str, model_id: str) -> None:
    """``DELETE /api/leaderboards/{id}/models/{model_id}``.

    409 ``model_in_use`` while the active run evaluates it; 409 ``model_in_production`` while
    the manual selection pins it; then, if it was the ranking winner in production, production
    moves to the next ranked model still attached (or to none)."""
    remove_model(table, workspace_id, leaderboard_id, model_id, run_model_ids=run_model_ids(table))
    fall_back_production(table, workspace_id, leaderboard_id, model_id)


def remove_model(
    table: MetadataTable,
    workspace_id: str,
    leaderboard_id: str,
    model_id: str,
    attempts: int = 5,
    *,
    run_model_ids: Callable[[str], Collection[str]] | None = None,
) -> None:
    """Detach a model. 409 ``model_in_production`` while the manual selection pins it.

    ``run_model_ids(run_id)``: the models a run uses. When given, removal is refused with 409
    ``model_in_use`` while the leaderboard's active run (``active_run_id``) uses the model,
    and the transaction is conditioned on the active run not having changed since that check
    (a run starting meanwhile makes it re-read)."""
    for _ in range(attempts):
        leaderboard = get_leaderboard(table, workspace_id, leaderboard_id)
        models = leaderboard.get("models") or []
        index = next((i for i, m in enumerate(models) if m.get("id") == model_id), None)
        if index is None:
            raise not_found("Model")
        selection = leaderboard.get("selection") or {}
        if selection.get("strategy") == "manual" and selection.get("model_id") == model_id:
            raise _in_production()
        active_run = leaderboard.get("active_run_id")
        if run_model_ids is not None and active_run and model_id in run_model_ids(active_run):
            raise ApiError(
                409,
                "model_in_use",
                f"Run {active_run} is evaluating this model; wait for it to finish or cancel it first.",
                {"active_run_id": active_run},
            )
        run_condition, run_values = "", {}
        if run_model_ids is not None:
            # The active run we checked is still the active run (or there is none).
            run_condition = " AND (attribute_not_exists(active_run_id) OR active_run_id = :run)"
            run_values = {":run": active_run or ""}
        item = table.get(*candidate_key(leaderboard_id, model_id)) or {}
        operations: list[dict[str, Any]] = [
            {"delete": candidate_key(leaderboard_id, model_id)},
            {
                "update": leaderboard_key(workspace_id, leaderboard_id),
                "expression": f"REMOVE #models[{index}] SET #u = :now",
                "names": {"#models": "models", "#u": "updated_at"},
                "values": {":now": clock.iso()},
                # The list did not move under us, and the selection does not pin this model.
                "condition": Condition(
                    f"#models[{index}].#id = :id AND "
                    "(attribute_not_exists(#sel.#mid) OR #sel.#mid <> :id OR #sel.#st <> :manual)" + run_condition,
                    names={
                        "#models": "models",
                        "#id": "id",
                        "#sel": "selection",
                        "#mid": "model_id",
                        "#st": "strategy",
                    },
                    values={":id": model_id, ":manual": "manual", **run_values},
                ),
            },
        ]
        if item.get("identity_sk"):
            operations.append({"delete": (leaderboard_pk(leaderboard_id), item["identity_sk"])})
        try:
            table.transact(operations)
            return
        except ClientError as exc:
            if not is_conditional_failure(exc):
                raise
            # The models list or the selection changed under us: re-read and try again.
    raise ApiError(409, "concurrent_change", "The leaderboard changed while removing the model; try again.")


def _in_production() -> ApiError:
    return ApiError(
        409,
        "model_in_production",
        "This model is the leaderboard's production model; select another one first "
        "(PUT /api/leaderboards/{id}/selection).",
    )


def run_model_ids(table: MetadataTable) -> Callable[[str], list[str]]:
    """``run_id -> model ids`` of that run (the runs' item ``RUN#{run}`` / ``META``)."""

    def models_of(run_id: str) -> list[str]:
        run = table.get(*run_key(run_id)) or {}
        return list(run.get("model_ids") or [])

    return models_of


def fall_back_production(table: MetadataTable, workspace_id: str, leaderboard_id: str, removed_model_id: str) -> None:
    """After ``removed_model_id`` left the leaderboard: if it was the ``ranking_winner``
    production model, production becomes the best-ranked model of the latest completed run
    that is still attached, else nothing. Conditional on production still naming the removed
    model (a run completing meanwhile wins). Even before this runs (or if it crashed),
    :func:`drgero.runs.selection.production_model` never answers a detached model."""
    # runs.selection imports this module (attached_model_ids): bound at call time.
    from drgero.runs.selection import latest_completed_run, ranked_production

    key = leaderboard_key(workspace_id, leaderboard_id)
    leaderboard = table.get(*key)
    if leaderboard is None:
        return
    production = leaderboard.get("production") or {}
    if production.get("model_id") != removed_model_id:
        return
    attached = attached_model_ids(leaderboard)
    latest = latest_completed_run(table, leaderboard_id)
    rows = (records.ranking_of(latest or {}) or {}).get("rows") or []
    # runs.eligibility reads candidate items: bound at call time like the imports above.
    from drgero.runs.eligibility import best_eligible, missing_of

    best = best_eligible(rows, missing_of(table, leaderboard), attached)
    condition = Condition(
        "#prod.#mid = :removed AND (attribute_not_exists(#sel) OR #sel.#st = :rw)",
        names={"#prod": "production", "#mid": "model_id", "#sel": "selection", "#st": "strategy"},
        values={":removed": removed_model_id, ":rw": "ranking_winner"},
    )
    # runs.production_history imports leaderboards (get_leaderboard): bound at call time too.
    from drgero.runs import production_history

    to_model_id = best if best and latest else None
    if to_model_id is not None:
        update = {
            "update": key,
            "expression": "SET #prod = :prod",
            "names": {},
            "values": {":prod": {**ranked_production(latest, to_model_id), "fallback_from": removed_model_id}},
            "condition": condition,
        }
    else:
        update = {"update": key, "expression": "REMOVE #prod", "names": {}, "values": {}, "condition": condition}
    record = production_history.change_put(
        leaderboard, removed_model_id, to_model_id, "model_removed", latest["id"] if to_model_id else None
    )
    try:
        production_history.apply(table, update, record)
    except ClientError as exc:
        if not is_conditional_failure(exc):
            raise
