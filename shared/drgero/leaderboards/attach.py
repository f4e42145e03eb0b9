"""Attaching candidate models to a leaderboard: parse, validate, store; by hand or auto-selected.

What an attached candidate is (items, keys, views, removal) is
:mod:`drgero.leaderboards.candidates`; this module is how one gets there. Two layers:

- The rules, with the network injected (tests and other callers choose it):
  :func:`attach_model` parses the body (:data:`AttachBody`), validates the target with the
  given ``validate`` (400 ``endpoint_probe_failed`` / ``unknown_model``...), seals its secret
  (:mod:`drgero.core.secrets`) and writes the model, identity and leaderboard items in one
  transaction (duplicates, the model limit and a vanished leaderboard are its conditions).
  :func:`auto_attach` runs auto-select (:mod:`drgero.providers.autoselect`) on a given
  catalog and attaches the picks.
- The route entry points, bound to the workspace: :func:`attach_for_workspace`
  (``POST /api/leaderboards/{id}/models``: the workspace's OpenRouter key and the shared
  ``ProviderClient`` for validation, its Dr.Gero models, the ``Idempotency-Key``) and
  :func:`auto_attach_for_workspace` (``POST .../models/auto-select``: the catalog cached in
  S3, observed latency from traces).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated, Any, Literal

from botocore.exceptions import ClientError
from pydantic import Field, TypeAdapter

from drgero.core import clock, secrets
from drgero.core.aws import AwsClients
from drgero.core.errors import ApiError, not_found
from drgero.core.idempotency import key_reused
from drgero.core.ids import new_id
from drgero.core.settings import Settings
from drgero.core.validation import FrozenModel, parse
from drgero.identity.integrations import require_integration
from drgero.leaderboards.candidates import (
    Target,
    identity_key,
    public_model,
    secret_context,
    summary,
)
from drgero.leaderboards.leaderboard import get_leaderboard, require_enough_rows
from drgero.own_models import registry as drgero_models
from drgero.providers.autoselect import AutoSelectRequest, ObservedLookup, auto_select
from drgero.providers.catalog import CatalogModel, OpenRouterCatalog, S3CatalogStore
from drgero.providers.client import ProviderClient
from drgero.providers.errors import ProviderError, probe_error
from drgero.providers.types import CustomTarget, DrGeroTarget, HuggingFaceTarget, OpenRouterTarget
from drgero.providers.validation import UnknownModel, Validated, validate_target
from drgero.store.keys import CANDIDATE_PREFIX, candidate_key, leaderboard_key, leaderboard_pk
from drgero.store.table import Condition, MetadataTable, is_conditional_failure

NAME = Field(default=None, min_length=1, max_length=200)
_ID_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


# ------------------------------------------------------------------ the body
class OpenRouterAttach(OpenRouterTarget):
    name: str | None = NAME


class CustomAttach(CustomTarget):
    name: str | None = NAME


class HuggingFaceAttach(HuggingFaceTarget):
    name: str | None = NAME


class DrGeroAttach(FrozenModel):
    """A Dr.Gero model is referenced by id; its endpoint comes from the model object. Without
    ``version`` the candidate follows the model's current version (each run evaluates the
    version current when it starts, so a fine-tune's new version is ranked by the next run);
    with one, it is pinned to that version."""

    platform: Literal["drgero"] = "drgero"
    model_id: str = Field(min_length=1, max_length=100)
    version: int | None = Field(default=None, ge=1)
    name: str | None = NAME


AttachBody = Annotated[
    OpenRouterAttach | CustomAttach | HuggingFaceAttach | DrGeroAttach, Field(discriminator="platform")
]
_ATTACH = TypeAdapter(AttachBody)

# target -> the validation result (drgero.providers.validation.validate_target bound to a
# client, catalog and key); injected so tests and callers choose the network.
Validator = Callable[[Target], Awaitable[Any]]
DrGeroResolver = Callable[[str, int | None], DrGeroTarget | None]


def parse_attach(body: Any) -> Any:
    return parse(_ATTACH, body, "The model is not valid.")


def _secret(target: Target) -> str | None:
    if isinstance(target, CustomTarget | DrGeroTarget) and target.auth.secret:
        return target.auth.secret.get_secret_value()
    if isinstance(target, HuggingFaceTarget) and target.token:
        return target.token.get_secret_value()
    return None


def _secret_fields(parsed: Any) -> dict[str, Any]:
    """The secret-bearing fields of an attach body, as objects (model_dump masks SecretStr)."""
    if isinstance(parsed, CustomAttach):
        return {"auth": parsed.auth}
    if isinstance(parsed, HuggingFaceAttach):
        return {"token": parsed.token}
    return {}


def _config_without_secret(target: Target) -> dict[str, Any]:
    config = target.model_dump(mode="json", exclude_none=True)
    if isinstance(target, CustomTarget | DrGeroTarget):
        config["auth"] = {k: v for k, v in config.get("auth", {}).items() if k != "secret"}
    if isinstance(target, HuggingFaceTarget):
        config.pop("token", None)
    return config


# ------------------------------------------------------------------ the rules
async def attach_model(
    table: MetadataTable,
    settings: Settings,
    clients: AwsClients,
    workspace_id: str,
    leaderboard_id: str,
    body: Any,
    *,
    validate: Validator,
    resolve_drgero: DrGeroResolver | None = None,
    model_id: str | None = None,
    extra_attributes: dict[str, Any] | None = None,
    checks: Sequence[tuple[tuple[str, str], Condition, ApiError]] = (),
) -> dict[str, Any]:
    """Validates and attaches a candidate; returns the public view (201).

    ``model_id``: the id to use (an idempotent caller derives it from its Idempotency-Key;
    409 ``model_id_taken`` if it exists). ``extra_attributes``: stored on the model item
    (e.g. a request hash). ``checks``: ``(key, condition, error)`` condition checks added to
    the attach transaction; ``error`` is raised when one fails (e.g. "the Dr.Gero model
    still exists")."""
    leaderboard = get_leaderboard(table, workspace_id, leaderboard_id)
    require_enough_rows(table, settings, leaderboard)
    parsed = parse_attach(body)
    limit = settings.limits.max_models_per_leaderboard
    if len(leaderboard.get("models") or []) >= limit:
        raise ApiError(409, "model_limit", f"A leaderboard can have at most {limit} models.", {"limit": limit})

    name = parsed.name
    target = _target(parsed, resolve_drgero)
    try:
        validated = await validate(target)
    except ProviderError as exc:
        raise probe_error(exc) from exc

    if isinstance(parsed, DrGeroAttach) and not name:
        # The model's own name: the endpoint's model name is only its version at attach time.
        model_name = drgero_models.get_model(table, workspace_id, parsed.model_id)["name"]
        name = model_name if parsed.version is None else f"{model_name} v{parsed.version}"
    model_id = model_id or new_id("mdl")
    now = clock.iso()
    item: dict[str, Any] = {
        "pk": candidate_key(leaderboard_id, model_id)[0],
        "sk": candidate_key(leaderboard_id, model_id)[1],
        "id": model_id,
        "leaderboard_id": leaderboard_id,
        "workspace_id": workspace_id,
        "platform": target.platform,
        "name": name or getattr(target, "display_name", target.platform),
        "config": _config_without_secret(target),
        "identity_sk": identity_key(leaderboard_id, target)[1],
        "created_at": now,
        **(extra_attributes or {}),
    }
    if isinstance(parsed, DrGeroAttach) and parsed.version is not None:
        item["pinned_version"] = parsed.version  # absent: runs evaluate the current version
    secret = _secret(target)
    if secret:
        context = secret_context(workspace_id, leaderboard_id, model_id)
        item["secret_ciphertext"] = secrets.seal(settings, clients, secret, context)
        item["secret_hint"] = secrets.hint(secret)
    catalog_model = getattr(validated, "catalog_model", None)
    if isinstance(target, OpenRouterTarget) and catalog_model is not None and catalog_model.pricing is not None:
        # The price at attach time; runs snapshot the price they actually use.
        item["pricing"] = catalog_model.pricing.model_dump()
    if isinstance(target, OpenRouterTarget) and catalog_model is not None and catalog_model.supported_parameters:
        # What inference may forward to it (tools, JSON mode, ...; drgero.providers.capabilities).
        item["supported_parameters"] = list(catalog_model.supported_parameters)
    lb_pk, lb_sk = leaderboard_key(workspace_id, leaderboard_id)
    id_pk, id_sk = identity_key(leaderboard_id, target)
    try:
        table.transact(
            [
                {"put": item, "condition": Condition("attribute_not_exists(pk)")},
                {
                    "put": {"pk": id_pk, "sk": id_sk, "model_id": model_id, "created_at": now},
                    "condition": Condition("attribute_not_exists(pk)"),
                },
                {
                    "update": (lb_pk, lb_sk),
                    "expression": "SET #models = list_append(if_not_exists(#models, :empty), :new), #u = :now",
                    "names": {"#models": "models", "#u": "updated_at"},
                    "values": {":empty": [], ":new": [summary(item)], ":now": now},
                    "condition": Condition(
                        "attribute_exists(pk) AND (attribute_not_exists(#models) OR size(#models) < :max)",
                        names={"#models": "models"},
                        values={":max": limit},
                    ),
                },
                *({"check": key, "condition": condition} for key, condition, _error in checks),
            ]
        )
    except ClientError as exc:
        if not is_conditional_failure(exc):
            raise
        _raise_attach_conflict(exc, table, (lb_pk, lb_sk), limit, checks)
        raise
    return public_model(item)


def _target(parsed: Any, resolve_drgero: DrGeroResolver | None) -> Any:
    """The provider target a parsed attach body names (a Dr.Gero model resolved to its endpoint)."""
    if isinstance(parsed, DrGeroAttach):
        target = resolve_drgero(parsed.model_id, parsed.version) if resolve_drgero else None
        if target is None:
            raise not_found(
                "Dr.Gero model" if parsed.version is None else f"Version {parsed.version} of the Dr.Gero model"
            )
        return target
    fields = parsed.model_dump(exclude={"name"})
    # Rebuild the plain target (keeps SecretStr values; model_dump would reveal nothing).
    target_type = {"openrouter": OpenRouterTarget, "custom": CustomTarget, "huggingface": HuggingFaceTarget}
    return target_type[parsed.platform].model_validate({**fields, **_secret_fields(parsed)})


def _raise_attach_conflict(
    exc: ClientError,
    table: MetadataTable,
    leaderboard: tuple[str, str],
    limit: int,
    checks: Sequence[tuple[tuple[str, str], Condition, ApiError]],
) -> None:
    """Raises the API error of the attach transaction's failed condition (operations: model,
    identity, leaderboard, then ``checks``); returns when none is recognised."""
    reasons = [r.get("Code") for r in (exc.response.get("CancellationReasons") or [])]
    failed = [code == "ConditionalCheckFailed" for code in reasons]
    for index, (_key, _condition, error) in enumerate(checks, start=3):
        if len(failed) > index and failed[index]:
            raise error from exc
    if failed and failed[0]:
        raise ApiError(409, "model_id_taken", "A model with this id already exists.") from exc
    if len(failed) > 1 and failed[1]:
        raise ApiError(409, "model_already_attached", "This model is already on the leaderboard.") from exc
    if len(failed) > 2 and failed[2]:
        if table.get(*leaderboard) is None:
            raise not_found("Leaderboard") from exc
        raise ApiError(409, "model_limit", f"A leaderboard can have at most {limit} models.") from exc


async def auto_attach(
    table: MetadataTable,
    settings: Settings,
    clients: AwsClients,
    workspace_id: str,
    leaderboard_id: str,
    body: Any,
    *,
    catalog: OpenRouterCatalog,
    api_key: str,
    observed: ObservedLookup | None = None,
) -> dict[str, Any]:
    """``POST /api/leaderboards/{id}/models/auto-select``: pick from the catalog and attach.

    Idempotent: the choice does not depend on what is already attached, so a retry (or a
    repeat) selects the same models and reports the ones already there instead of adding
    more. All-or-nothing on the model limit: 409 before anything is attached.
    """
    leaderboard = get_leaderboard(table, workspace_id, leaderboard_id)
    require_enough_rows(table, settings, leaderboard)
    request = parse(AutoSelectRequest, body, "The auto-select request is not valid.")
    try:
        result = await auto_select(request, catalog, api_key=api_key, observed=observed or (lambda _id: None))
    except ProviderError as exc:
        raise exc.to_api_error() from exc

    existing = {
        item["config"].get("model"): item
        for item in table.query_all(leaderboard_pk(leaderboard_id), CANDIDATE_PREFIX, consistent=True)
        if item.get("platform") == "openrouter"
    }
    new_picks = [p for p in result.picked if p.model_id not in existing]
    limit = settings.limits.max_models_per_leaderboard
    have = len(leaderboard.get("models") or [])
    if have + len(new_picks) > limit:
        raise ApiError(
            409,
            "model_limit",
            f"Adding {len(new_picks)} models would pass the limit of {limit} per leaderboard ({have} attached).",
            {"limit": limit, "attached": have, "to_add": len(new_picks)},
        )
    by_id = {m.id: m for m in (await catalog.snapshot(api_key)).models}
    models: list[dict[str, Any]] = []
    for pick in result.picked:
        if pick.model_id in existing:
            view = public_model(existing[pick.model_id])
            view["already_attached"] = True
        else:
            entry = by_id.get(pick.model_id)

            async def from_catalog(_target: Target, entry: CatalogModel | None = entry) -> Any:
                # Just picked from the catalog: nothing more to validate.
                return Validated(catalog_model=entry)

            try:
                view = await attach_model(
                    table,
                    settings,
                    clients,
                    workspace_id,
                    leaderboard_id,
                    {"platform": "openrouter", "model": pick.model_id},
                    validate=from_catalog,
                )
            except ApiError as exc:
                if exc.code != "model_already_attached":
                    raise
                # Attached concurrently (e.g. a retried request): report, do not add twice.
                view = {"platform": "openrouter", "name": pick.model_id, "already_attached": True}
            else:
                view["already_attached"] = False
        view["auto_select"] = {
            "reason": pick.reason,
            "input_cost_per_m": pick.input_cost_per_m,
            "output_cost_per_m": pick.output_cost_per_m,
            "open_source": pick.open_source,
            "p95": pick.p95.model_dump(),
            "p99": pick.p99.model_dump(),
        }
        models.append(view)
    return {
        "models": models,
        "requested": result.requested,
        "considered": result.considered,
        "excluded": result.excluded,
        "catalog_fetched_at": result.catalog_fetched_at,
        "catalog_stale": result.catalog_stale,
        "notes": result.notes,
    }


# ------------------------------------------------------------------ bound to the workspace
def provider_client(settings: Settings) -> ProviderClient:
    return ProviderClient.shared(settings.providers)


def catalog(settings: Settings, clients: AwsClients) -> OpenRouterCatalog:
    """The OpenRouter catalog, cached in the data bucket for ``providers.catalog_ttl_seconds``."""
    return OpenRouterCatalog(provider_client(settings), S3CatalogStore(clients.s3, settings.aws.bucket_name))


def openrouter_key(settings: Settings, clients: AwsClients, workspace_id: str) -> str:
    """The workspace's OpenRouter key, or 409 ``integration_required``."""
    return require_integration(settings, clients, workspace_id, "openrouter")


def validator(settings: Settings, clients: AwsClients, workspace_id: str) -> Validator:
    """``validate`` for :func:`attach_model`: the OpenRouter id against the catalog (needs the
    workspace's key: 409 ``integration_required``), endpoints by a probe."""
    client = provider_client(settings)

    async def validate(target: Target) -> Any:
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


def _replay(table: MetadataTable, workspace_id: str, leaderboard_id: str, model_id: str, request_hash: str):
    """The model a first request with this Idempotency-Key attached, or None."""
    item = table.get(*candidate_key(leaderboard_id, model_id))
    if item is None or item.get("workspace_id") != workspace_id:
        return None
    if item.get("request_hash") != request_hash:
        raise key_reused()
    return public_model(item)


async def attach_for_workspace(
    table: MetadataTable,
    settings: Settings,
    clients: AwsClients,
    workspace_id: str,
    leaderboard_id: str,
    body: Any,
    idempotency_key: str | None = None,
) -> tuple[dict[str, Any], bool]:
    """``POST /api/leaderboards/{id}/models``: ``(model view, replayed)``.

    With an ``Idempotency-Key`` (checked by the caller: :func:`drgero.core.idempotency.check_key`)
    the model id is derived from (workspace, leaderboard, key), so a retry finds the model its
    first attempt attached and returns it (no second probe, no duplicate), even when both
    attempts run concurrently (the conditional put of the model item decides). The same key
    with a different body is 422 ``idempotency_key_reused``.
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
        view = await attach_model(
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


async def auto_attach_for_workspace(
    table: MetadataTable,
    settings: Settings,
    clients: AwsClients,
    workspace_id: str,
    leaderboard_id: str,
    body: Any,
) -> dict[str, Any]:
    """``POST /api/leaderboards/{id}/models/auto-select`` (idempotent by construction, see
    :func:`auto_attach`)."""
    source, key, observed = _auto_select_inputs(table, settings, clients, workspace_id, leaderboard_id)
    return await auto_attach(
        table, settings, clients, workspace_id, leaderboard_id, body, catalog=source, api_key=key, observed=observed
    )


def _auto_select_inputs(
    table: MetadataTable, settings: Settings, clients: AwsClients, workspace_id: str, leaderboard_id: str
) -> tuple[Any, str, Any]:
    """What auto-select and its preview both pick from: the catalog, the workspace's OpenRouter
    key and the observed latencies, once the leaderboard has the rows to rank models on."""
    # Cold start: auto-select is the only user of observed latencies; off the api function's import.
    from drgero.providers.observed import observed_lookup

    leaderboard = get_leaderboard(table, workspace_id, leaderboard_id)
    require_enough_rows(table, settings, leaderboard)
    key = openrouter_key(settings, clients, workspace_id)
    return catalog(settings, clients), key, observed_lookup(table, settings, workspace_id)


async def auto_select_preview_for_workspace(
    table: MetadataTable,
    settings: Settings,
    clients: AwsClients,
    workspace_id: str,
    leaderboard_id: str,
    body: Any,
) -> dict[str, Any]:
    """``POST /api/leaderboards/{id}/models/auto-select/preview``: what auto-select would pick,
    with the reason for each, attaching nothing (the dashboard shows it before "Attach").
    The same pick as the attaching route for the same body and catalog."""
    source, key, observed = _auto_select_inputs(table, settings, clients, workspace_id, leaderboard_id)
    request = parse(AutoSelectRequest, body, "The auto-select request is not valid.")
    try:
        result = await auto_select(request, source, api_key=key, observed=observed)
    except ProviderError as exc:
        raise exc.to_api_error() from exc
    attached = {
        item["config"].get("model")
        for item in table.query_all(leaderboard_pk(leaderboard_id), CANDIDATE_PREFIX, consistent=True)
        if item.get("platform") == "openrouter"
    }
    return {
        "picked": [{**p.model_dump(), "already_attached": p.model_id in attached} for p in result.picked],
        "requested": result.requested,
        "considered": result.considered,
        "excluded": result.excluded,
        "catalog_stale": result.catalog_stale,
        "notes": result.notes,
    }
