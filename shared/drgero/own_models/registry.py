"""Dr.Gero models: a workspace's own models, each an OpenAI-compatible endpoint we call.

Item (docs/data-model.md): ``WS#{ws}`` / ``DGMODEL#{id}``, read through the caller's
workspace (another workspace's id is simply not found -> 404). It holds ``versions``, a list
of ``{version, endpoint, created_at, source}`` (``source``: ``manual`` here; fine-tuning adds
its own versions later) and ``current_version``. A ``drgero`` candidate follows the current
version (or the version it pinned at attach time): each run snapshots the version it
evaluates (:func:`version_to_evaluate`) and calls exactly that one (:func:`version_target`),
and production serves the version a run ranked. Each version's
endpoint keeps its URL, the model name to send and the auth kind; an auth secret is KMS
ciphertext bound (encryption context) to workspace, model and version, shown as a hint only.

Status: ``ready`` (the endpoint answered a probe when the version was added), ``unverified``
(added with ``probe: false``: the URL was only checked syntactically, e.g. for an endpoint
not deployed yet; the SSRF guard still vets every call), ``deleting`` (transient, see
:func:`delete_model`).

A per-workspace counter item (``WS#{ws}`` / ``DGMODELCOUNT``) moved in the create and delete
transactions enforces ``limits.max_drgero_models`` exactly under concurrency.

Deleting a model attached to a leaderboard is refused (409 ``model_attached``, naming the
leaderboards). Race-free: delete first marks the model ``deleting`` (conditional update),
then looks for attachments; an attach carries a transaction condition that the model exists
and is not ``deleting`` (:func:`attach_guard`). So either the attach commits first and the
delete sees it, or the attach fails.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field, field_validator

from drgero.core import clock, secrets
from drgero.core.aws import AwsClients
from drgero.core.errors import ApiError, not_found
from drgero.core.ids import new_id
from drgero.core.settings import Settings
from drgero.core.validation import StrictModel, parse
from drgero.leaderboards.candidates import identity_key
from drgero.leaderboards.leaderboard import list_leaderboards
from drgero.providers.errors import ProviderError, probe_error
from drgero.providers.ssrf import GuardPolicy, check_address, check_url_syntax
from drgero.providers.types import MAX_URL_LENGTH, DrGeroTarget, EndpointAuth
from drgero.store.keys import (
    DRGERO_MODEL_PREFIX,
    drgero_model_counter_key,
    drgero_model_key,
    leaderboard_pk,
    workspace_pk,
)
from drgero.store.table import Condition, MetadataTable, is_conditional_failure

READY, UNVERIFIED, DELETING = "ready", "unverified", "deleting"
MODEL_ID_PATTERN = r"^dgm_[0-9a-z]{26}$"

# target -> raises ProviderError when the endpoint does not answer (drgero.providers.validation
# .validate_target bound to a ProviderClient); injected so tests and callers choose the network.
Probe = Callable[[DrGeroTarget], Awaitable[Any]]


class EndpointIn(StrictModel):
    """An OpenAI-compatible chat-completions endpoint (``{url}`` receives the POST)."""

    url: str = Field(min_length=8, max_length=MAX_URL_LENGTH)
    # The "model" field sent in the chat-completions body (many servers require one).
    model: str | None = Field(default=None, min_length=1, max_length=200)
    auth: EndpointAuth = EndpointAuth()

    @field_validator("url")
    @classmethod
    def _scheme(cls, value: str) -> str:
        if not value.lower().startswith(("https://", "http://")):
            raise ValueError("url must start with https:// (or http:// where allowed)")
        return value


class DrGeroModelCreate(StrictModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "support-bot",
                    "description": "Our fine-tuned support model",
                    "base_model": "meta-llama/llama-3.1-8b-instruct",
                    "endpoint": {"url": "https://models.example.com/v1/chat/completions", "model": "support-bot"},
                    "probe": False,
                }
            ]
        },
    )

    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=2000)
    base_model: str | None = Field(default=None, min_length=1, max_length=200)
    endpoint: EndpointIn
    # Send a one-message test request before accepting the endpoint (400 when it fails).
    probe: bool = True


class DrGeroModelPatch(StrictModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"description": "v2 of our bot"}]})

    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    base_model: str | None = Field(default=None, min_length=1, max_length=200)
    # A new endpoint adds a version (source "manual") and makes it current.
    endpoint: EndpointIn | None = None
    probe: bool = True


def secret_context(workspace_id: str, model_id: str, version: int) -> dict[str, str]:
    """The KMS encryption context of a version's secret (:mod:`drgero.core.secrets`)."""
    return {
        "workspace_id": workspace_id,
        "model_id": model_id,
        "version": str(version),
        "purpose": "drgero_model_secret",
    }


def _public_version(version: dict[str, Any]) -> dict[str, Any]:
    endpoint = dict(version["endpoint"])
    auth = dict(endpoint.get("auth") or {"kind": "none"})
    if version.get("secret_hint"):
        auth["secret"] = {"configured": True, "hint": version["secret_hint"]}
    endpoint["auth"] = auth
    return {
        "version": int(version["version"]),
        "endpoint": endpoint,
        "created_at": version["created_at"],
        "source": version["source"],
    }


def public_model(item: dict[str, Any]) -> dict[str, Any]:
    """The API view: never a secret (a hint at most)."""
    versions = [_public_version(v) for v in item.get("versions") or []]
    current = next((v for v in versions if v["version"] == int(item["current_version"])), None)
    return {
        "id": item["id"],
        "name": item["name"],
        "description": item.get("description") or "",
        "base_model": item.get("base_model"),
        "status": item["status"],
        "endpoint": current["endpoint"] if current else None,
        "current_version": int(item["current_version"]),
        "versions": versions,
        "created_at": item["created_at"],
        "updated_at": item.get("updated_at", item["created_at"]),
    }


def _parse(model: type[BaseModel], body: Any) -> Any:
    if isinstance(body, model):
        return body
    return parse(model, body, "The model is not valid.")


def _valid_name(value: str) -> str:
    name = value.strip()
    if not name:
        raise ApiError(400, "invalid_request", "The model is not valid.", [{"field": "name", "error": "blank"}])
    return name


# ------------------------------------------------------------------ endpoint checks
async def _check_endpoint(
    model_id: str, endpoint: EndpointIn, probe: bool, policy: GuardPolicy, prober: Probe | None
) -> str:
    """The status the version gets; 400 ``unsafe_url`` / ``endpoint_probe_failed``."""
    try:
        checked = check_url_syntax(endpoint.url, policy)
        if not probe or prober is None:
            # No DNS without a probe; an IP literal is still vetted now (169.254.169.254 is
            # refused at once), and the guard vets every address at call time anyway.
            literal = checked.host.strip("[]")
            if literal.replace(".", "").isdigit() or ":" in literal:
                check_address(literal, policy, port=checked.port)
            return UNVERIFIED
        await prober(_target(model_id, endpoint.url, endpoint.model, endpoint.auth))
    except ProviderError as exc:
        raise probe_error(exc) from exc
    except ValueError as exc:  # an unparsable IP literal
        raise ApiError(400, "unsafe_url", "The endpoint URL is not valid.", {"reason": "invalid_url"}) from exc
    return READY


def _target(model_id: str, url: str, model: str | None, auth: EndpointAuth) -> DrGeroTarget:
    return DrGeroTarget(model_id=model_id, url=url, model=model, auth=auth)


def _version_record(
    settings: Settings,
    clients: AwsClients,
    workspace_id: str,
    model_id: str,
    version: int,
    endpoint: EndpointIn,
    now: str,
) -> dict[str, Any]:
    auth = {"kind": endpoint.auth.kind}
    if endpoint.auth.header_name:
        auth["header_name"] = endpoint.auth.header_name
    record: dict[str, Any] = {
        "version": version,
        "endpoint": {"url": endpoint.url, "auth": auth, **({"model": endpoint.model} if endpoint.model else {})},
        "created_at": now,
        "source": "manual",
    }
    if endpoint.auth.secret is not None:
        secret = endpoint.auth.secret.get_secret_value()
        context = secret_context(workspace_id, model_id, version)
        record["secret_ciphertext"] = secrets.seal(settings, clients, secret, context)
        record["secret_hint"] = secrets.hint(secret)
    return record


# ------------------------------------------------------------------ CRUD
def get_model(table: MetadataTable, workspace_id: str, model_id: str) -> dict[str, Any]:
    if not model_id or len(model_id) > 100:
        raise not_found("Model")
    item = table.get(*drgero_model_key(workspace_id, model_id))
    if not item:
        raise not_found("Model")
    return item


def list_models(table: MetadataTable, workspace_id: str) -> list[dict[str, Any]]:
    return list(table.query_all(workspace_pk(workspace_id), DRGERO_MODEL_PREFIX, consistent=True))


async def create_model(
    table: MetadataTable,
    settings: Settings,
    clients: AwsClients,
    workspace_id: str,
    body: Any,
    *,
    policy: GuardPolicy,
    probe: Probe | None,
) -> dict[str, Any]:
    """``POST /api/models``: validates (SSRF guard, probe) and stores; returns the item."""
    request: DrGeroModelCreate = _parse(DrGeroModelCreate, body)
    name = _valid_name(request.name)
    limit = settings.limits.max_drgero_models
    counter = table.get(*drgero_model_counter_key(workspace_id)) or {}
    if int(counter.get("count") or 0) >= limit:
        raise _limit_error(limit)
    model_id = new_id("dgm")
    status = await _check_endpoint(model_id, request.endpoint, request.probe, policy, probe)
    now = clock.iso()
    pk, sk = drgero_model_key(workspace_id, model_id)
    item = {
        "pk": pk,
        "sk": sk,
        "id": model_id,
        "workspace_id": workspace_id,
        "name": name,
        "description": request.description,
        "base_model": request.base_model,
        "status": status,
        "current_version": 1,
        "versions": [_version_record(settings, clients, workspace_id, model_id, 1, request.endpoint, now)],
        "created_at": now,
        "updated_at": now,
    }
    cpk, csk = drgero_model_counter_key(workspace_id)
    try:
        table.transact(
            [
                {"put": item, "condition": Condition("attribute_not_exists(pk)")},
                {
                    "update": (cpk, csk),
                    "expression": "SET #c = if_not_exists(#c, :zero) + :one",
                    "names": {"#c": "count"},
                    "values": {":zero": 0, ":one": 1, ":max": limit},
                    "condition": Condition("attribute_not_exists(#c) OR #c < :max", names={"#c": "count"}),
                },
            ]
        )
    except ClientError as exc:
        if is_conditional_failure(exc):
            raise _limit_error(limit) from exc
        raise
    return item


def _limit_error(limit: int) -> ApiError:
    return ApiError(409, "model_limit", f"A workspace can have at most {limit} Dr.Gero models.", {"limit": limit})


async def update_model(
    table: MetadataTable,
    settings: Settings,
    clients: AwsClients,
    workspace_id: str,
    model_id: str,
    body: Any,
    *,
    policy: GuardPolicy,
    probe: Probe | None,
) -> dict[str, Any]:
    """``PATCH /api/models/{id}``: name/description/base_model; a new ``endpoint`` adds a version."""
    patch: DrGeroModelPatch = _parse(DrGeroModelPatch, body)
    current = get_model(table, workspace_id, model_id)
    fields = patch.model_fields_set
    changes: dict[str, Any] = {}
    if "name" in fields and patch.name is not None:
        changes["name"] = _valid_name(patch.name)
    if "description" in fields and patch.description is not None:
        changes["description"] = patch.description
    if "base_model" in fields:
        changes["base_model"] = patch.base_model
    names: dict[str, str] = {"#st": "status"}
    values: dict[str, Any] = {":deleting": DELETING}
    extra = ""
    condition = "attribute_exists(pk) AND #st <> :deleting"
    if patch.endpoint is not None:
        versions = current.get("versions") or []
        max_versions = settings.limits.max_model_versions
        if len(versions) >= max_versions:
            raise ApiError(
                409, "version_limit", f"A model keeps at most {max_versions} versions.", {"limit": max_versions}
            )
        version = max(int(v["version"]) for v in versions) + 1 if versions else 1
        changes["status"] = await _check_endpoint(model_id, patch.endpoint, patch.probe, policy, probe)
        changes["current_version"] = version
        record = _version_record(settings, clients, workspace_id, model_id, version, patch.endpoint, clock.iso())
        names["#v"] = "versions"
        values[":new"] = [record]
        values[":n"] = len(versions)
        extra = ", #v = list_append(#v, :new)"
        # Nobody added a version meanwhile (the number we chose is still free).
        condition += " AND size(#v) = :n"
    if not changes and not extra:
        return current
    changes["updated_at"] = clock.iso()
    sets, removes = [], []
    for i, (field, value) in enumerate(changes.items()):
        names[f"#f{i}"] = field
        if value is None:  # e.g. "base_model": null clears it
            removes.append(f"#f{i}")
        else:
            values[f":v{i}"] = value
            sets.append(f"#f{i} = :v{i}")
    try:
        return table.update(
            *drgero_model_key(workspace_id, model_id),
            "SET " + ", ".join(sets) + extra + (" REMOVE " + ", ".join(removes) if removes else ""),
            names,
            values,
            condition=Condition(condition),
        )
    except ClientError as exc:
        if not is_conditional_failure(exc):
            raise
        raise ApiError(409, "concurrent_change", "The model changed (or is being deleted); read it and retry.") from exc


def delete_model(
    table: MetadataTable, workspace_id: str, model_id: str, attached_to: Callable[[str], list[dict[str, Any]]]
) -> None:
    """``DELETE /api/models/{id}``; 409 ``model_attached`` naming the leaderboards that use it.

    ``attached_to(model_id)`` lists ``{"id", "name"}`` of the workspace's leaderboards that
    have this model attached (:func:`attached_leaderboards`)."""
    item = get_model(table, workspace_id, model_id)
    key = drgero_model_key(workspace_id, model_id)
    previous = item["status"]
    if previous != DELETING:
        try:
            table.update(
                *key,
                "SET #st = :deleting, #prev = :prev",
                {"#st": "status", "#prev": "status_before_delete"},
                {":deleting": DELETING, ":prev": previous},
                condition=Condition("attribute_exists(pk)"),
            )
        except ClientError as exc:
            if is_conditional_failure(exc):
                raise not_found("Model") from exc
            raise
    else:
        previous = item.get("status_before_delete") or READY  # a crashed earlier delete
    attached = attached_to(model_id)
    if attached:
        table.update(
            *key,
            "SET #st = :prev REMOVE #prevf",
            {"#st": "status", "#prevf": "status_before_delete"},
            {":prev": previous, ":deleting": DELETING},
            condition=Condition("attribute_exists(pk) AND #st = :deleting", names={"#st": "status"}),
        )
        names = ", ".join(lb["name"] for lb in attached)
        raise ApiError(
            409,
            "model_attached",
            f"This model is a candidate on {len(attached)} leaderboard(s) ({names}); remove it there first.",
            {"leaderboards": attached},
        )
    cpk, csk = drgero_model_counter_key(workspace_id)
    try:
        table.transact(
            [
                {"delete": key, "condition": Condition("attribute_exists(pk)")},
                {
                    "update": (cpk, csk),
                    "expression": "SET #c = #c - :one",
                    "names": {"#c": "count"},
                    "values": {":one": 1, ":zero": 0},
                    "condition": Condition("#c > :zero"),
                },
            ]
        )
    except ClientError as exc:
        if not is_conditional_failure(exc):
            raise
        if table.get(*key) is not None:
            # The counter was already at zero (created before the counter existed): still delete.
            table.delete(*key)


# ------------------------------------------------------------------ for candidates
def identity_sk(model_id: str) -> str:
    """The candidate identity item a leaderboard has while this model is attached to it
    (``drgero.leaderboards.candidates.identity_key`` of a Dr.Gero target: only the model id counts)."""
    return identity_key("-", DrGeroTarget(model_id=model_id, url="https://identity.invalid"))[1]


def attached_leaderboards(table: MetadataTable, workspace_id: str, model_id: str) -> list[dict[str, Any]]:
    sk = identity_sk(model_id)
    return [
        {"id": lb["id"], "name": lb["name"]}
        for lb in list_leaderboards(table, workspace_id)
        if table.get(leaderboard_pk(lb["id"]), sk) is not None
    ]


def _live_model(
    table: MetadataTable, workspace_id: str, model_id: str, include_deleting: bool = False
) -> dict[str, Any] | None:
    """The model item; one being deleted counts as absent unless ``include_deleting``: an
    attached model is only ``deleting`` for the moment a refused delete takes to undo it
    (:func:`delete_model`), so runs and inference of its candidates read through it."""
    item = table.get(*drgero_model_key(workspace_id, model_id)) if model_id and len(model_id) <= 100 else None
    if not item or (item.get("status") == DELETING and not include_deleting):
        return None
    return item


def _version(item: dict[str, Any], version: int | None) -> dict[str, Any] | None:
    """The version record ``version`` (None: the current one), or None when there is none."""
    wanted = int(item["current_version"]) if version is None else int(version)
    return next((v for v in item.get("versions") or [] if int(v["version"]) == wanted), None)


def version_target(
    table: MetadataTable,
    settings: Settings,
    clients: AwsClients,
    workspace_id: str,
    model_id: str,
    version: int | None = None,
    *,
    include_deleting: bool = False,
) -> DrGeroTarget | None:
    """The callable target of one version of a model (None: its current version), secret
    decrypted for the call only; None when the workspace has no such model or version (or the
    model is being deleted). What runs evaluate and production serves for a ``drgero``
    candidate: the version a run snapshotted, never whatever is current at call time."""
    item = _live_model(table, workspace_id, model_id, include_deleting)
    record = _version(item, version) if item else None
    if item is None or record is None:
        return None
    endpoint = record["endpoint"]
    auth: dict[str, Any] = dict(endpoint.get("auth") or {"kind": "none"})
    if record.get("secret_ciphertext"):
        context = secret_context(workspace_id, model_id, int(record["version"]))
        auth["secret"] = secrets.unseal(settings, clients, record["secret_ciphertext"], context)
    return DrGeroTarget(
        model_id=model_id,
        url=endpoint["url"],
        model=endpoint.get("model") or item["name"],
        auth=EndpointAuth.model_validate(auth),
    )


def version_to_evaluate(
    table: MetadataTable, workspace_id: str, model_id: str, pinned: int | None
) -> tuple[int, dict[str, Any]] | None:
    """``(version, config without secret)`` a run evaluates: the candidate's pinned version, or
    else the model's current one (so a fine-tune's new version is ranked by the next run).
    None when the model or that version is gone."""
    item = _live_model(table, workspace_id, model_id, include_deleting=True)
    record = _version(item, pinned) if item else None
    if item is None or record is None:
        return None
    endpoint = record["endpoint"]
    auth = {k: v for k, v in (endpoint.get("auth") or {"kind": "none"}).items() if k != "secret"}
    config = {
        "platform": "drgero",
        "model_id": model_id,
        "url": endpoint["url"],
        "model": endpoint.get("model") or item["name"],
        "auth": auth,
    }
    return int(record["version"]), config


def resolver(
    table: MetadataTable, settings: Settings, clients: AwsClients, workspace_id: str
) -> Callable[..., DrGeroTarget | None]:
    """``resolve_drgero(model_id, version=None)`` for :func:`drgero.leaderboards.attach.attach_model`:
    the callable target of that version (default the current one; secret decrypted, for the
    probe and the encrypted copy the candidate keeps), or None when the workspace has no such
    model or version (or it is being deleted)."""

    def resolve(model_id: str, version: int | None = None) -> DrGeroTarget | None:
        return version_target(table, settings, clients, workspace_id, model_id, version)

    return resolve


def attach_guard(workspace_id: str, model_id: str) -> tuple[tuple[str, str], Condition, ApiError]:
    """A check for the attach transaction: the Dr.Gero model still exists and is not being deleted."""
    return (
        drgero_model_key(workspace_id, model_id),
        Condition("attribute_exists(pk) AND #st <> :deleting", names={"#st": "status"}, values={":deleting": DELETING}),
        not_found("Dr.Gero model"),
    )
