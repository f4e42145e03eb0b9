"""Candidate models on a leaderboard: attach (validated), list, load for a call, remove.

Items (docs/data-model.md), all in the leaderboard's partition ``LB#{lb}``:
- ``MODEL#{model_id}``: platform, display name, the target config WITHOUT its secret, the
  secret as KMS ciphertext (encryption context binds it to workspace, leaderboard and
  model: a ciphertext copied elsewhere does not decrypt), a masked hint, and for
  OpenRouter models the catalog price at attach time.
- ``MODELKEY#{sha256(identity)}``: makes "the same model twice" impossible, even under
  concurrent attaches (conditional put in the attach transaction).
The leaderboard item (``WS#{ws}`` / ``LB#{lb}``) keeps ``models``: public summaries, updated
in the same transaction, so the leaderboard view and the model items never disagree.

Removing a model that the production selection pins (``selection.strategy == "manual"``)
is refused with 409 ``model_in_production``, by a condition in the removal transaction, so
the selection can never point at a removed model. (A ``ranking_winner`` selection must be
resolved among the models still attached: :func:`attached_model_ids`.)

:func:`auto_attach` runs auto-select (``drgero.providers.autoselect``) and attaches the picks.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from drgero.core.aws import AwsClients
from drgero.core.errors import ApiError, not_found
from drgero.core.ids import new_id
from drgero.core.settings import Settings
from drgero.leaderboards.leaderboard import get_leaderboard, require_enough_rows
from drgero.providers.autoselect import AutoSelectRequest, ObservedLookup, auto_select
from drgero.providers.catalog import CatalogModel, OpenRouterCatalog
from drgero.providers.errors import AuthError, ProviderError, UnsafeUrl
from drgero.providers.types import (
    CustomTarget,
    DrGeroTarget,
    HuggingFaceTarget,
    OpenRouterTarget,
)
from drgero.providers.validation import Validated
from drgero.store.keys import CANDIDATE_PREFIX, candidate_identity_key, candidate_key, leaderboard_key, leaderboard_pk
from drgero.store.table import Condition, MetadataTable, is_conditional_failure

Target = OpenRouterTarget | CustomTarget | HuggingFaceTarget | DrGeroTarget
NAME = Field(default=None, min_length=1, max_length=200)


class OpenRouterAttach(OpenRouterTarget):
    name: str | None = NAME


class CustomAttach(CustomTarget):
    name: str | None = NAME


class HuggingFaceAttach(HuggingFaceTarget):
    name: str | None = NAME


class DrGeroAttach(BaseModel):
    """A Dr.Gero model is referenced by id; its endpoint comes from the model object."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    platform: Literal["drgero"] = "drgero"
    model_id: str = Field(min_length=1, max_length=100)
    name: str | None = NAME


AttachBody = Annotated[
    OpenRouterAttach | CustomAttach | HuggingFaceAttach | DrGeroAttach, Field(discriminator="platform")
]
_ATTACH = TypeAdapter(AttachBody)
_TARGET: TypeAdapter[Target] = TypeAdapter(Annotated[Target, Field(discriminator="platform")])

# target -> the validation result (drgero.providers.validation.validate_target bound to a
# client, catalog and key); injected so tests and callers choose the network.
Validator = Callable[[Target], Awaitable[Any]]
DrGeroResolver = Callable[[str], DrGeroTarget | None]


def parse_attach(body: Any) -> Any:
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_request", "The request body must be a JSON object.")
    try:
        return _ATTACH.validate_python(body)
    except ValidationError as exc:
        # Messages only (pydantic's "input" could be a secret).
        details = [
            {"field": ".".join(str(p) for p in err["loc"]), "error": err["msg"]}
            for err in exc.errors(include_url=False, include_input=False, include_context=False)
        ]
        raise ApiError(400, "invalid_request", "The model is not valid.", details) from exc


def identity_key(leaderboard_id: str, target: Target) -> tuple[str, str]:
    if isinstance(target, OpenRouterTarget):
        identity = f"openrouter\n{target.model}"
    elif isinstance(target, DrGeroTarget):
        identity = f"drgero\n{target.model_id}"
    else:
        identity = f"{target.platform}\n{target.url}\n{target.model or ''}"
    return candidate_identity_key(leaderboard_id, identity)


def _secret(target: Target) -> str | None:
    if isinstance(target, CustomTarget | DrGeroTarget) and target.auth.secret:
        return target.auth.secret.get_secret_value()
    if isinstance(target, HuggingFaceTarget) and target.token:
        return target.token.get_secret_value()
    return None


def _mask(secret: str) -> str:
    return f"…{secret[-4:]}" if len(secret) >= 16 else "…"


def _config_without_secret(target: Target) -> dict[str, Any]:
    config = target.model_dump(mode="json", exclude_none=True)
    if isinstance(target, CustomTarget | DrGeroTarget):
        config["auth"] = {k: v for k, v in config.get("auth", {}).items() if k != "secret"}
    if isinstance(target, HuggingFaceTarget):
        config.pop("token", None)
    return config


def _context(workspace_id: str, leaderboard_id: str, model_id: str) -> dict[str, str]:
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
    return view


def summary(item: dict[str, Any]) -> dict[str, Any]:
    return {"id": item["id"], "platform": item["platform"], "name": item["name"], "created_at": item["created_at"]}


def _validation_error(exc: ProviderError) -> ApiError:
    """A failed probe of the user's endpoint is a problem with what they gave us: 400."""
    if isinstance(exc, UnsafeUrl) or exc.status == 400:
        return exc.to_api_error()
    if isinstance(exc, AuthError):
        message = "The endpoint rejected the credentials given for it."
    else:
        message = f"The endpoint did not answer a test request: {exc.message}"
    return ApiError(400, "endpoint_probe_failed", message, {"cause": exc.code, **exc.details()})


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
    if isinstance(parsed, DrGeroAttach):
        target = resolve_drgero(parsed.model_id) if resolve_drgero else None
        if target is None:
            raise not_found("Dr.Gero model")
    else:
        fields = parsed.model_dump(exclude={"name"})
        # Rebuild the plain target (keeps SecretStr values; model_dump would reveal nothing).
        target_type = {"openrouter": OpenRouterTarget, "custom": CustomTarget, "huggingface": HuggingFaceTarget}
        target = target_type[parsed.platform].model_validate({**fields, **_secret_fields(parsed)})
    try:
        validated = await validate(target)
    except ProviderError as exc:
        raise _validation_error(exc) from exc

    model_id = model_id or new_id("mdl")
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
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
    secret = _secret(target)
    if secret:
        item["secret_ciphertext"] = clients.kms.encrypt(
            KeyId=settings.aws.kms_key_id,
            Plaintext=secret.encode(),
            EncryptionContext=_context(workspace_id, leaderboard_id, model_id),
        )["CiphertextBlob"]
        item["secret_hint"] = _mask(secret)
    catalog_model = getattr(validated, "catalog_model", None)
    if isinstance(target, OpenRouterTarget) and catalog_model is not None and catalog_model.pricing is not None:
        # The price at attach time; runs snapshot the price they actually use.
        item["pricing"] = catalog_model.pricing.model_dump()
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
        reasons = [r.get("Code") for r in (exc.response.get("CancellationReasons") or [])]
        for index, (_key, _condition, error) in enumerate(checks, start=3):
            if len(reasons) > index and reasons[index] == "ConditionalCheckFailed":
                raise error from exc
        if reasons and reasons[0] == "ConditionalCheckFailed":
            raise ApiError(409, "model_id_taken", "A model with this id already exists.") from exc
        if len(reasons) > 1 and reasons[1] == "ConditionalCheckFailed":
            raise ApiError(409, "model_already_attached", "This model is already on the leaderboard.") from exc
        if len(reasons) > 2 and reasons[2] == "ConditionalCheckFailed":
            if table.get(lb_pk, lb_sk) is None:
                raise not_found("Leaderboard") from exc
            raise ApiError(409, "model_limit", f"A leaderboard can have at most {limit} models.") from exc
        raise
    return public_model(item)


def _secret_fields(parsed: Any) -> dict[str, Any]:
    """The secret-bearing fields of an attach body, as objects (model_dump masks SecretStr)."""
    if isinstance(parsed, CustomAttach):
        return {"auth": parsed.auth}
    if isinstance(parsed, HuggingFaceAttach):
        return {"token": parsed.token}
    return {}


def list_models(table: MetadataTable, workspace_id: str, leaderboard_id: str) -> list[dict[str, Any]]:
    get_leaderboard(table, workspace_id, leaderboard_id)
    return [public_model(i) for i in table.query_all(leaderboard_pk(leaderboard_id), CANDIDATE_PREFIX, consistent=True)]


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
) -> tuple[Target, dict[str, Any]]:
    """The callable target (secret decrypted, for the provider call only) and its item."""
    item = table.get(*candidate_key(leaderboard_id, model_id))
    if not item or item.get("workspace_id") != workspace_id:
        raise not_found("Model")
    config = dict(item["config"])
    if item.get("secret_ciphertext"):
        secret = clients.kms.decrypt(
            CiphertextBlob=bytes(item["secret_ciphertext"]),
            KeyId=settings.aws.kms_key_id,
            EncryptionContext=_context(workspace_id, leaderboard_id, model_id),
        )["Plaintext"].decode()
        if config["platform"] == "huggingface":
            config["token"] = secret
        else:
            config["auth"] = {**config.get("auth", {}), "secret": secret}
    return _TARGET.validate_python(config), item


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
                "values": {":now": datetime.now(UTC).isoformat().replace("+00:00", "Z")},
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
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_request", "The request body must be a JSON object.")
    try:
        request = AutoSelectRequest.model_validate(body)
    except ValidationError as exc:
        details = [
            {"field": ".".join(str(p) for p in err["loc"]), "error": err["msg"]}
            for err in exc.errors(include_url=False, include_input=False, include_context=False)
        ]
        raise ApiError(400, "invalid_request", "The auto-select request is not valid.", details) from exc
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
