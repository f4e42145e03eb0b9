"""The leaderboard model routes' domain glue: attach (idempotent, validated against the real
providers), remove (never while a run uses the model; production falls to the next ranked
model), auto-select (catalog cached in S3, observed latency from traces).

The candidate rules themselves live in :mod:`drgero.leaderboards.candidates`; this module binds them to
the workspace's OpenRouter key, the shared ``ProviderClient``, the S3 catalog cache, the
Dr.Gero models (:mod:`drgero.own_models.registry`) and the runs' active-run marker.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from botocore.exceptions import ClientError

from drgero.core.aws import AwsClients
from drgero.core.errors import ApiError, not_found
from drgero.core.settings import Settings
from drgero.leaderboards import candidates
from drgero.leaderboards.leaderboard import get_leaderboard, require_enough_rows
from drgero.own_models import registry as drgero_models
from drgero.providers.client import ProviderClient
from drgero.providers.errors import ProviderError
from drgero.providers.types import OpenRouterTarget
from drgero.store.keys import candidate_key, leaderboard_key, run_key
from drgero.store.table import Condition, MetadataTable, is_conditional_failure

_ID_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
MAX_IDEMPOTENCY_KEY = 255


def provider_client(settings: Settings) -> ProviderClient:
    return ProviderClient.shared(settings.providers)


def catalog(settings: Settings, clients: AwsClients):
    """The OpenRouter catalog, cached in the data bucket for ``providers.catalog_ttl_seconds``."""
    from drgero.providers.catalog import OpenRouterCatalog, S3CatalogStore

    return OpenRouterCatalog(provider_client(settings), S3CatalogStore(clients.s3, settings.aws.bucket_name))


def openrouter_key(settings: Settings, clients: AwsClients, workspace_id: str) -> str:
    """The workspace's OpenRouter key, or 409 ``integration_required``."""
    from drgero.identity.integrations import require_integration

    return require_integration(settings, clients, workspace_id, "openrouter")


def validator(settings: Settings, clients: AwsClients, workspace_id: str) -> candidates.Validator:
    """``validate`` for :func:`drgero.leaderboards.candidates.attach_model`: the OpenRouter id against the
    catalog (needs the workspace's key: 409 ``integration_required``), endpoints by a probe."""
    from drgero.providers.validation import UnknownModel, validate_target

    client = provider_client(settings)

    async def validate(target: candidates.Target) -> Any:
        if isinstance(target, OpenRouterTarget):
            key = openrouter_key(settings, clients, workspace_id)
            try:
                return await validate_target(target, client=client, catalog=catalog(settings, clients), api_key=key)
            except UnknownModel:
                raise  # 400 unknown_model: the user's input
            except ProviderError as exc:
                # OpenRouter itself failed (down, key refused): not a problem with the input.
                raise exc.to_api_error() from exc
        return await validate_target(target, client=client)

    return validate


def _derived_model_id(workspace_id: str, leaderboard_id: str, idempotency_key: str) -> str:
    digest = hashlib.sha256(f"{workspace_id}\n{leaderboard_id}\n{idempotency_key}".encode()).digest()
    number = int.from_bytes(digest[:17], "big")
    return "mdl_" + "".join(_ID_ALPHABET[(number >> (5 * i)) & 31] for i in range(26))


def _request_hash(model_id: str, body: Any) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    # Salted with the model id: the hash of a body that holds a secret is never reusable elsewhere.
    return hashlib.sha256(f"{model_id}\n{canonical}".encode()).hexdigest()


def check_idempotency_key(key: str | None) -> str | None:
    if key is not None and not (1 <= len(key) <= MAX_IDEMPOTENCY_KEY and key.isprintable()):
        raise ApiError(
            400, "invalid_idempotency_key", f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} printable characters."
        )
    return key


def _replay(table: MetadataTable, workspace_id: str, leaderboard_id: str, model_id: str, request_hash: str):
    """The model a first request with this Idempotency-Key attached, or None."""
    item = table.get(*candidate_key(leaderboard_id, model_id))
    if item is None or item.get("workspace_id") != workspace_id:
        return None
    if item.get("request_hash") != request_hash:
        raise ApiError(
            422, "idempotency_key_reused", "This Idempotency-Key was already used with a different request body."
        )
    return candidates.public_model(item)


async def attach(
    table: MetadataTable,
    settings: Settings,
    clients: AwsClients,
    workspace_id: str,
    leaderboard_id: str,
    body: Any,
    idempotency_key: str | None = None,
) -> tuple[dict[str, Any], bool]:
    """``POST /api/leaderboards/{id}/models``: ``(model view, replayed)``.

    With an ``Idempotency-Key`` the model id is derived from (workspace, leaderboard, key), so
    a retry finds the model its first attempt attached and returns it (no second probe, no
    duplicate), even when both attempts run concurrently (the conditional put of the model
    item decides). The same key with a different body is 422 ``idempotency_key_reused``.
    """
    get_leaderboard(table, workspace_id, leaderboard_id)  # 404 before anything else
    model_id = request_hash = None
    if idempotency_key:
        model_id = _derived_model_id(workspace_id, leaderboard_id, idempotency_key)
        request_hash = _request_hash(model_id, body)
        replayed = _replay(table, workspace_id, leaderboard_id, model_id, request_hash)
        if replayed is not None:
            return replayed, True
    checks = []
    if isinstance(body, dict) and body.get("platform") == "drgero" and isinstance(body.get("model_id"), str):
        checks.append(drgero_models.attach_guard(workspace_id, body["model_id"]))
    try:
        view = await candidates.attach_model(
            table,
            settings,
            clients,
            workspace_id,
            leaderboard_id,
            body,
            validate=validator(settings, clients, workspace_id),
            resolve_drgero=drgero_models.resolver(table, settings, clients, workspace_id),
            model_id=model_id,
            extra_attributes={"request_hash": request_hash} if request_hash else None,
            checks=checks,
        )
    except ApiError as exc:
        if model_id and request_hash and exc.code in ("model_id_taken", "model_already_attached"):
            # A concurrent attempt with the same key won the race: answer what it attached.
            replayed = _replay(table, workspace_id, leaderboard_id, model_id, request_hash)
            if replayed is not None:
                return replayed, True
        raise
    return view, False


# ------------------------------------------------------------------ removal
def run_model_ids(table: MetadataTable):
    """``run_id -> model ids`` of that run (the runs' item ``RUN#{run}`` / ``META``)."""

    def models_of(run_id: str) -> list[str]:
        run = table.get(*run_key(run_id)) or {}
        return list(run.get("model_ids") or [])

    return models_of


def remove(table: MetadataTable, workspace_id: str, leaderboard_id: str, model_id: str) -> None:
    """``DELETE /api/leaderboards/{id}/models/{model_id}``.

    409 ``model_in_use`` while the active run evaluates it; 409 ``model_in_production`` while
    the manual selection pins it; then, if it was the ranking winner in production, production
    moves to the next ranked model still attached (or to none)."""
    candidates.remove_model(table, workspace_id, leaderboard_id, model_id, run_model_ids=run_model_ids(table))
    fall_back_production(table, workspace_id, leaderboard_id, model_id)


def fall_back_production(table: MetadataTable, workspace_id: str, leaderboard_id: str, removed_model_id: str) -> None:
    """After ``removed_model_id`` left the leaderboard: if it was the ``ranking_winner``
    production model, production becomes the best-ranked model of the latest completed run
    that is still attached, else nothing. Conditional on production still naming the removed
    model (a run completing meanwhile wins). Even before this runs (or if it crashed),
    :func:`drgero.runs.selection.production_model` never answers a detached model."""
    from drgero.leaderboards.candidates import attached_model_ids
    from drgero.runs import records
    from drgero.runs.selection import latest_completed_run

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
    ranked = sorted(
        (r for r in rows if r.get("model_id") in attached and r.get("score") is not None),
        key=lambda r: (r.get("rank") or 10**9, r["model_id"]),
    )
    condition = Condition(
        "#prod.#mid = :removed AND (attribute_not_exists(#sel) OR #sel.#st = :rw)",
        names={"#prod": "production", "#mid": "model_id", "#sel": "selection", "#st": "strategy"},
        values={":removed": removed_model_id, ":rw": "ranking_winner"},
    )
    try:
        if ranked and latest:
            table.update(
                *key,
                "SET #prod = :prod",
                {},
                {
                    ":prod": {
                        "model_id": ranked[0]["model_id"],
                        "run_id": latest["id"],
                        "run_started_at": latest["started_at"],
                        "since": records.now_iso(),
                        "fallback_from": removed_model_id,
                    }
                },
                condition=condition,
            )
        else:
            table.update(*key, "REMOVE #prod", {}, {}, condition=condition)
    except ClientError as exc:
        if not is_conditional_failure(exc):
            raise


# ------------------------------------------------------------------ auto-select
async def auto_select(
    table: MetadataTable,
    settings: Settings,
    clients: AwsClients,
    workspace_id: str,
    leaderboard_id: str,
    body: Any,
) -> dict[str, Any]:
    """``POST /api/leaderboards/{id}/models/auto-select`` (idempotent by construction, see
    :func:`drgero.leaderboards.candidates.auto_attach`)."""
    from drgero.providers.observed import observed_lookup

    leaderboard = get_leaderboard(table, workspace_id, leaderboard_id)
    require_enough_rows(table, settings, leaderboard)
    key = openrouter_key(settings, clients, workspace_id)
    return await candidates.auto_attach(
        table,
        settings,
        clients,
        workspace_id,
        leaderboard_id,
        body,
        catalog=catalog(settings, clients),
        api_key=key,
        observed=observed_lookup(table, settings, workspace_id),
    )


def get_attached(table: MetadataTable, workspace_id: str, leaderboard_id: str, model_id: str) -> dict[str, Any]:
    item = table.get(*candidate_key(leaderboard_id, model_id))
    get_leaderboard(table, workspace_id, leaderboard_id)
    if not item or item.get("workspace_id") != workspace_id:
        raise not_found("Model")
    return candidates.public_model(item)
