"""Fine-tune jobs: a Dr.Gero model trained on a leaderboard's dataset (docs/fine-tuning.md).

Items (docs/data-model.md):
- job ``WS#{ws}`` / ``FTJOB#{model_id}#{job_id}``; while active it is also in the sparse
  index ``gsi1pk = FTJOB#ACTIVE`` (the poller's work list), removed when it ends;
- lock ``WS#{ws}`` / ``FTACTIVE#{model_id}``: at most one active job per model, taken in the
  same transaction that creates the job and released in the one that ends it, so two
  concurrent (or retried) requests can never start two paid trainings of one model.

Lifecycle: ``starting`` (exported, not yet on the backend) -> the backend's states
(``validating_files``, ``queued``, ``running``) -> ``succeeded`` | ``failed`` | ``cancelled``.
The start runs in the request; if it dies half-way (crash, backend down) the job stays
``starting`` and the poller resumes it after ``fine_tune.resume_after_seconds``: the export
is deterministic (same dataset object version, same prompt snapshot, same split), so a resume
uploads the same bytes. Known gap: a crash between the backend creating its job and our
write of its id would train twice on the retry (the OpenAI-style API has no idempotency key).

On ``succeeded`` one transaction appends a version (``source: fine_tune``) to the model,
makes it current, ends the job and frees the lock - exactly once, however many pollers see
the success. Every end emits one ``fine_tune`` trace (id derived from the job id).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from drgero.core.aws import AwsClients
from drgero.core.errors import ApiError, not_found
from drgero.core.ids import new_id
from drgero.core.settings import Settings
from drgero.leaderboards.leaderboard import get_leaderboard
from drgero.own_models import registry as drgero_models
from drgero.own_models.finetune.backend import BackendError, BackendJob, FineTuneBackend, with_backend_key
from drgero.own_models.finetune.export import build_export, object_keys
from drgero.store.table import Condition, MetadataTable, is_conditional_failure

logger = logging.getLogger("drgero.own_models.finetune")

STARTING = "starting"
SUCCEEDED, FAILED, CANCELLED = "succeeded", "failed", "cancelled"
TERMINAL = (SUCCEEDED, FAILED, CANCELLED)
ACTIVE_INDEX_PK = "FTJOB#ACTIVE"
JOB_ID_PATTERN = r"^ftj_[0-9a-z]{26}$"

BackendFactory = Callable[[Settings], FineTuneBackend]


def default_backend(settings: Settings) -> FineTuneBackend:
    return FineTuneBackend(settings.fine_tune)


# ------------------------------------------------------------------ request bodies
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Hyperparameters(_Strict):
    n_epochs: int | None = Field(default=None, ge=1, le=50)
    batch_size: int | None = Field(default=None, ge=1, le=1024)
    learning_rate_multiplier: float | None = Field(default=None, gt=0.0, le=10.0)


class FineTuneCreate(_Strict):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "leaderboard_id": "lb_01jd3k0000000000000000000",
                    "base_model": "gpt-4o-mini-2024-07-18",
                    "hyperparameters": {"n_epochs": 3},
                    "validation_fraction": 0.1,
                }
            ]
        },
    )

    leaderboard_id: str = Field(min_length=1, max_length=100)
    # The backend's name of the model to start from (e.g. gpt-4o-mini-2024-07-18).
    base_model: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]*$")
    hyperparameters: Hyperparameters | None = None
    # Share of rows held out as the validation file (deterministic per row id).
    validation_fraction: float = Field(default=0.0, ge=0.0, le=0.5)


def parse_body(model: type[BaseModel], body: Any, message: str) -> Any:
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_request", "The request body must be a JSON object.")
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        details = [
            {"field": ".".join(str(p) for p in err["loc"]), "error": err["msg"]}
            for err in exc.errors(include_url=False, include_input=False, include_context=False)
        ]
        raise ApiError(400, "invalid_request", message, details) from exc


# ------------------------------------------------------------------ keys and views
def job_key(workspace_id: str, model_id: str, job_id: str) -> tuple[str, str]:
    return f"WS#{workspace_id}", f"FTJOB#{model_id}#{job_id}"


def lock_key(workspace_id: str, model_id: str) -> tuple[str, str]:
    return f"WS#{workspace_id}", f"FTACTIVE#{model_id}"


def idempotency_key_item(workspace_id: str, model_id: str, key: str) -> tuple[str, str]:
    digest = hashlib.sha256(f"{model_id}\n{key}".encode()).hexdigest()
    return f"WS#{workspace_id}", f"FTIDEM#{digest}"


def request_hash(body: Any) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _replay(table: MetadataTable, workspace_id: str, model_id: str, key: str, body: Any) -> dict[str, Any] | None:
    """The job a first request with this Idempotency-Key created (None: the key is new);
    422 ``idempotency_key_reused`` when the body differs."""
    record = table.get(*idempotency_key_item(workspace_id, model_id, key))
    if record is None or int(record.get("expires_at") or 0) < int(_now().timestamp()):
        return None
    if record.get("request_hash") != request_hash(body):
        raise ApiError(
            422, "idempotency_key_reused", "This Idempotency-Key was already used with a different request body."
        )
    return table.get(*job_key(workspace_id, model_id, record["job_id"]))


def trace_id_of(job_id: str) -> str:
    return "tr_" + job_id.split("_", 1)[1]


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _parse_iso(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def public_job(item: dict[str, Any]) -> dict[str, Any]:
    """The API view (no S3 internals beyond the URIs, no secrets: jobs hold none)."""
    return {
        "id": item["id"],
        "model_id": item["model_id"],
        "leaderboard_id": item["leaderboard_id"],
        "base_model": item["base_model"],
        "hyperparameters": item.get("hyperparameters") or {},
        "validation_fraction": item.get("validation_fraction", 0.0),
        "source": item.get("source", "manual"),
        "status": item["status"],
        "dataset": {"version": item["dataset"].get("version"), "rows": item["dataset"].get("rows")},
        "training": item.get("training"),
        "backend": {
            "provider": item.get("provider"),
            "job_id": item.get("backend_job_id"),
            "status": item.get("backend_status"),
        },
        "fine_tuned_model": item.get("fine_tuned_model"),
        "model_version": item.get("model_version"),
        "error": item.get("error"),
        "trained_tokens": item.get("trained_tokens"),
        "cost_usd": item.get("cost_usd"),
        "created_at": item["created_at"],
        "started_at": item.get("started_at"),
        "finished_at": item.get("finished_at"),
        "execution_seconds": item.get("execution_seconds"),
        "trace_id": item.get("trace_id"),
    }


# ------------------------------------------------------------------ reads
def get_job(table: MetadataTable, workspace_id: str, model_id: str, job_id: str) -> dict[str, Any]:
    drgero_models.get_model(table, workspace_id, model_id)
    if not job_id or len(job_id) > 100:
        raise not_found("Fine-tune job")
    item = table.get(*job_key(workspace_id, model_id, job_id))
    if not item:
        raise not_found("Fine-tune job")
    return item


def list_jobs(table: MetadataTable, workspace_id: str, model_id: str) -> list[dict[str, Any]]:
    """Newest first (job ids sort by creation time)."""
    drgero_models.get_model(table, workspace_id, model_id)
    return list(table.query_all(f"WS#{workspace_id}", f"FTJOB#{model_id}#", forward=False, consistent=True))


def latest_job(table: MetadataTable, workspace_id: str, model_id: str, leaderboard_id: str) -> dict[str, Any] | None:
    for item in table.query_all(f"WS#{workspace_id}", f"FTJOB#{model_id}#", forward=False, consistent=True):
        if item.get("leaderboard_id") == leaderboard_id:
            return item
    return None


# ------------------------------------------------------------------ create
def create_job(
    table: MetadataTable,
    settings: Settings,
    clients: AwsClients,
    workspace_id: str,
    model_id: str,
    body: Any,
    *,
    source: str = "manual",
    idempotency_key: str | None = None,
    backend_factory: BackendFactory = default_backend,
) -> dict[str, Any]:
    """``POST /api/models/{id}/fine-tunes``: export, take the model's lock, start on the
    backend. Returns the job item (``starting`` when the backend could not be reached yet).

    With an ``idempotency_key``, a retry with the same body returns the first request's job
    (``item["replayed"]`` is True) for ``fine_tune.idempotency_seconds``, whatever became of
    it; the key's record is written in the job's own transaction."""
    from drgero.runs.dataset import pinned_dataset

    request: FineTuneCreate = parse_body(FineTuneCreate, body, "The fine-tune request is not valid.")
    model = drgero_models.get_model(table, workspace_id, model_id)
    if model.get("status") == drgero_models.DELETING:
        raise not_found("Model")
    if idempotency_key is not None:
        first = _replay(table, workspace_id, model_id, idempotency_key, body)
        if first is not None:
            return {**first, "replayed": True}
    leaderboard = get_leaderboard(table, workspace_id, request.leaderboard_id)
    dataset = pinned_dataset(table, leaderboard)
    # Export first: a dataset that cannot be trained on (too few rows, too big) is a 409
    # before anything is written.
    export = _export(settings, clients, leaderboard.get("prompt") or "", dataset, request.validation_fraction)
    now = _now()
    job_id = new_id("ftj")
    hyperparameters = request.hyperparameters.model_dump(exclude_none=True) if request.hyperparameters else {}
    pk, sk = job_key(workspace_id, model_id, job_id)
    item: dict[str, Any] = {
        "pk": pk,
        "sk": sk,
        "gsi1pk": ACTIVE_INDEX_PK,
        "gsi1sk": f"{_iso(now)}#{job_id}",
        "id": job_id,
        "workspace_id": workspace_id,
        "model_id": model_id,
        "leaderboard_id": leaderboard["id"],
        "base_model": request.base_model,
        "hyperparameters": hyperparameters,
        "validation_fraction": request.validation_fraction,
        "prompt": leaderboard.get("prompt") or "",
        "dataset": dataset,
        "source": source,
        "status": STARTING,
        "provider": settings.fine_tune.provider_name,
        "training": {
            "rows": export.training_rows,
            "validation_rows": export.validation_rows,
            "skipped_rows": export.skipped_rows,
            "sha256": export.sha256,
        },
        "start_attempts": 0,
        "trace_id": trace_id_of(job_id),
        "created_at": _iso(now),
        "updated_at": _iso(now),
    }
    lpk, lsk = lock_key(workspace_id, model_id)
    idempotency: list[dict[str, Any]] = []
    if idempotency_key is not None:
        ipk, isk = idempotency_key_item(workspace_id, model_id, idempotency_key)
        expires = int(now.timestamp()) + settings.fine_tune.idempotency_seconds
        idempotency.append(
            {
                "put": {
                    "pk": ipk,
                    "sk": isk,
                    "job_id": job_id,
                    "request_hash": request_hash(body),
                    "expires_at": expires,
                },
                # A new key, or one whose window has passed (TTL deletion lags).
                "condition": Condition(
                    "attribute_not_exists(pk) OR expires_at < :now", values={":now": int(now.timestamp())}
                ),
            }
        )
    operations = [
        *idempotency,
        {"put": item, "condition": Condition("attribute_not_exists(pk)")},
        {
            "put": {"pk": lpk, "sk": lsk, "job_id": job_id, "created_at": _iso(now)},
            "condition": Condition("attribute_not_exists(pk)"),
        },
        # The model still exists and is not being deleted.
        {
            "check": drgero_models.model_key(workspace_id, model_id),
            "condition": Condition(
                "attribute_exists(pk) AND #st <> :deleting",
                names={"#st": "status"},
                values={":deleting": drgero_models.DELETING},
            ),
        },
    ]
    for attempt in range(3):
        try:
            table.transact(operations)
            break
        except ClientError as exc:
            if not is_conditional_failure(exc):
                if _is_transaction_conflict(exc) and attempt < 2:
                    continue  # another transaction held one of the items: try again
                raise
            if idempotency_key is not None:
                first = _replay(table, workspace_id, model_id, idempotency_key, body)
                if first is not None:  # a concurrent twin of this request won
                    return {**first, "replayed": True}
            active = table.get(lpk, lsk)
            if active is None:
                raise not_found("Model") from exc
            raise ApiError(
                409,
                "fine_tune_in_progress",
                "This model already has a fine-tune job in progress; wait for it or cancel it.",
                {"job_id": active.get("job_id")},
            ) from exc
    return start(table, settings, clients, item, export=export, backend_factory=backend_factory)


def _is_transaction_conflict(exc: ClientError) -> bool:
    """A transaction cancelled because a concurrent one touched the same items (no condition
    failed): DynamoDB asks the caller to retry."""
    reasons = exc.response.get("CancellationReasons") or []
    return exc.response.get("Error", {}).get("Code") == "TransactionCanceledException" and any(
        r.get("Code") == "TransactionConflict" for r in reasons
    )


def _export(settings: Settings, clients: AwsClients, prompt: str, dataset: dict[str, Any], fraction: float):
    from drgero.runs.dataset import read_lines

    limits = settings.fine_tune
    rows = (json.loads(line) for line in read_lines(clients.s3, settings.aws.bucket_name, dataset))
    return build_export(
        prompt,
        rows,
        validation_fraction=fraction,
        max_rows=limits.max_training_rows,
        min_rows=limits.min_training_rows,
        max_bytes=limits.max_training_bytes,
    )


def start(
    table: MetadataTable,
    settings: Settings,
    clients: AwsClients,
    item: dict[str, Any],
    *,
    export: Any = None,
    backend_factory: BackendFactory = default_backend,
) -> dict[str, Any]:
    """Uploads the export (S3, then the backend) and creates the backend job. Safe to call
    again on a ``starting`` job (resume). A refused request (4xx) fails the job with the
    backend's message; an unreachable backend leaves it ``starting`` for the poller."""
    key = (item["pk"], item["sk"])
    if export is None:
        export = _export(settings, clients, item["prompt"], item["dataset"], float(item["validation_fraction"]))
    train_key, validation_key = object_keys(item["workspace_id"], item["id"])
    bucket = settings.aws.bucket_name
    clients.s3.put_object(Bucket=bucket, Key=train_key, Body=export.training, ContentType="application/jsonl")
    training = {**item["training"], "training_uri": f"s3://{bucket}/{train_key}"}
    if export.validation:
        clients.s3.put_object(
            Bucket=bucket, Key=validation_key, Body=export.validation, ContentType="application/jsonl"
        )
        training["validation_uri"] = f"s3://{bucket}/{validation_key}"
    settings = with_backend_key(settings, clients)
    backend = backend_factory(settings)
    try:
        train_file = backend.upload_file(f"{item['id']}-train.jsonl", export.training)
        validation_file = (
            backend.upload_file(f"{item['id']}-validation.jsonl", export.validation) if export.validation else None
        )
        job = backend.create_job(
            item["base_model"], train_file, validation_file, item.get("hyperparameters") or {}, _suffix(item["id"])
        )
    except BackendError as exc:
        if exc.retryable:
            logger.warning("fine-tune start deferred", extra={"job_id": item["id"], "error": exc.message})
            return table.update(
                *key,
                "SET #t = :t, #e = :e, #u = :u ADD #a :one",
                {"#t": "training", "#e": "last_error", "#u": "updated_at", "#a": "start_attempts"},
                {":t": training, ":e": exc.message, ":u": _iso(_now()), ":one": 1},
            )
        return finish(table, settings, clients, item, FAILED, error=exc.message, extra={"training": training})
    finally:
        backend.close()
    try:
        return table.update(
            *key,
            "SET #st = :st, #bs = :st, #bj = :bj, #tf = :tf, #t = :t, #sa = :sa, #u = :u ADD #a :one",
            {
                "#st": "status",
                "#bs": "backend_status",
                "#bj": "backend_job_id",
                "#tf": "backend_files",
                "#t": "training",
                "#sa": "started_at",
                "#u": "updated_at",
                "#a": "start_attempts",
            },
            {
                ":st": job.status if job.status not in TERMINAL else "queued",
                ":bj": job.id,
                ":tf": {"training": train_file, **({"validation": validation_file} if validation_file else {})},
                ":t": training,
                ":sa": _iso(_now()),
                ":u": _iso(_now()),
                ":one": 1,
                ":starting": STARTING,
            },
            condition=Condition("#st = :starting"),
        )
    except ClientError as exc:
        if not is_conditional_failure(exc):
            raise
        # Cancelled (or resumed elsewhere) while we were starting: do not leave a paid job running.
        current = table.get(*key) or {}
        if current.get("backend_job_id") != job.id:
            _cancel_quietly(settings, backend_factory, job.id)
        return current


def _suffix(job_id: str) -> str:
    # OpenAI allows 18 characters of suffix: enough to find the job on the backend's side.
    return "dg-" + job_id.split("_", 1)[1][-15:]


def _cancel_quietly(settings: Settings, backend_factory: BackendFactory, backend_job_id: str) -> None:
    backend = backend_factory(settings)
    try:
        backend.cancel_job(backend_job_id)
    except BackendError as exc:
        logger.warning(
            "orphan backend job not cancelled", extra={"backend_job_id": backend_job_id, "error": exc.message}
        )
    finally:
        backend.close()


# ------------------------------------------------------------------ endings
def finish(
    table: MetadataTable,
    settings: Settings,
    clients: AwsClients,
    item: dict[str, Any],
    status: str,
    *,
    error: str | None = None,
    backend_job: BackendJob | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Ends a job (failed / cancelled, or succeeded when the model cannot take the version):
    conditional on it still being active, so only one caller ends it and traces it."""
    changes = {**_ending(settings, item, status, backend_job), **(extra or {})}
    if error:
        changes["error"] = {"message": error[:2000]}
    operations = [_end_job_operation(item, changes), _release_lock_operation(item), *_usage_operations(item, changes)]
    try:
        table.transact(operations)
    except ClientError as exc:
        if not is_conditional_failure(exc):
            raise
        return table.get(item["pk"], item["sk"]) or item
    ended = {**item, **changes}
    ended.pop("gsi1pk", None)
    ended.pop("gsi1sk", None)
    _emit_trace(settings, clients, ended)
    return ended


def _ending(settings: Settings, item: dict[str, Any], status: str, job: BackendJob | None) -> dict[str, Any]:
    now = _now()
    changes: dict[str, Any] = {"status": status, "finished_at": _iso(now), "updated_at": _iso(now)}
    started = item.get("started_at") or item["created_at"]
    changes["execution_seconds"] = round(max(0.0, (now - _parse_iso(started)).total_seconds()), 3)
    if job is not None:
        changes["backend_status"] = job.status
        if job.trained_tokens is not None:
            changes["trained_tokens"] = job.trained_tokens
        cost = job_cost(settings, job)
        if cost is not None:
            changes["cost_usd"] = cost
    return changes


def job_cost(settings: Settings, job: BackendJob) -> float | None:
    """The backend's own cost when it reports one, else trained tokens x the configured price."""
    if job.cost_usd is not None:
        return round(job.cost_usd, 10)
    if job.trained_tokens is not None:
        return round(job.trained_tokens * settings.fine_tune.price_per_m_trained_tokens_usd / 1_000_000, 10)
    return None


def _end_job_operation(item: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    names = {"#st": "status", "#g1": "gsi1pk", "#g2": "gsi1sk"}
    values: dict[str, Any] = {":a": SUCCEEDED, ":b": FAILED, ":c": CANCELLED}
    sets = []
    for i, (field, value) in enumerate(changes.items()):
        names[f"#f{i}"] = field
        values[f":v{i}"] = value
        sets.append(f"#f{i} = :v{i}")
    return {
        "update": (item["pk"], item["sk"]),
        "expression": "SET " + ", ".join(sets) + " REMOVE #g1, #g2",
        "names": names,
        "values": values,
        "condition": Condition("attribute_exists(pk) AND NOT #st IN (:a, :b, :c)"),
    }


def _release_lock_operation(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "delete": lock_key(item["workspace_id"], item["model_id"]),
        "condition": Condition("job_id = :job", values={":job": item["id"]}),
    }


def _usage_operations(item: dict[str, Any], changes: dict[str, Any]) -> list[dict[str, Any]]:
    """The job's cost ADDed to the workspace's month usage (``GET /api/workspaces/{ws}/usage``),
    in the transaction that ends the job: counted exactly once."""
    cost = changes.get("cost_usd")
    if not cost:
        return []
    month = changes["finished_at"][:7]
    return [
        {
            "update": (f"WS#{item['workspace_id']}", f"USAGE#MONTH#{month}"),
            "expression": "ADD spent_micro_usd :d, calls :c",
            "values": {":d": round(float(cost) * 1_000_000), ":c": 1},
        }
    ]


def complete(
    table: MetadataTable, settings: Settings, clients: AwsClients, item: dict[str, Any], job: BackendJob
) -> dict[str, Any]:
    """The backend says ``succeeded``: add the tuned model as the model's current version."""
    if not job.fine_tuned_model:
        return finish(
            table,
            settings,
            clients,
            item,
            FAILED,
            backend_job=job,
            error="The backend reported success without a fine-tuned model id.",
        )
    for _attempt in range(5):
        model = table.get(*drgero_models.model_key(item["workspace_id"], item["model_id"]))
        if not model or model.get("status") == drgero_models.DELETING:
            return finish(
                table,
                settings,
                clients,
                item,
                SUCCEEDED,
                backend_job=job,
                error="The model was deleted before the tuned version could be added.",
                extra={"fine_tuned_model": job.fine_tuned_model},
            )
        versions = model.get("versions") or []
        if len(versions) >= settings.limits.max_model_versions:
            return finish(
                table,
                settings,
                clients,
                item,
                SUCCEEDED,
                backend_job=job,
                error=f"The model already keeps {settings.limits.max_model_versions} versions; "
                "delete some or raise limits.max_model_versions.",
                extra={"fine_tuned_model": job.fine_tuned_model},
            )
        number = max((int(v["version"]) for v in versions), default=0) + 1
        record = _version_record(settings, clients, item, number, job.fine_tuned_model)
        changes = {
            **_ending(settings, item, SUCCEEDED, job),
            "fine_tuned_model": job.fine_tuned_model,
            "model_version": number,
        }
        try:
            table.transact(
                [
                    {
                        "update": drgero_models.model_key(item["workspace_id"], item["model_id"]),
                        "expression": "SET #v = list_append(#v, :new), #cv = :cv, #st = :ready, #u = :u",
                        "names": {"#v": "versions", "#cv": "current_version", "#st": "status", "#u": "updated_at"},
                        "values": {
                            ":new": [record],
                            ":cv": number,
                            ":ready": drgero_models.READY,
                            ":u": changes["finished_at"],
                            ":n": len(versions),
                            ":deleting": drgero_models.DELETING,
                        },
                        # Nobody added a version meanwhile, and no delete has begun.
                        "condition": Condition("attribute_exists(pk) AND size(#v) = :n AND #st <> :deleting"),
                    },
                    _end_job_operation(item, changes),
                    _release_lock_operation(item),
                    *_usage_operations(item, changes),
                ]
            )
        except ClientError as exc:
            if not is_conditional_failure(exc):
                raise
            current = table.get(item["pk"], item["sk"]) or {}
            if current.get("status") in TERMINAL:
                return current  # another poller finished it
            continue  # the model changed under us: read it again
        ended = {**item, **changes}
        ended.pop("gsi1pk", None)
        ended.pop("gsi1sk", None)
        _emit_trace(settings, clients, ended)
        return ended
    raise ApiError(409, "concurrent_change", "The model kept changing; the poller will retry.")


def _version_record(
    settings: Settings, clients: AwsClients, item: dict[str, Any], number: int, fine_tuned_model: str
) -> dict[str, Any]:
    """A model version calling the tuned model on the backend's chat endpoint, through the
    models module's own record builder (same secret encryption and shape)."""
    from drgero.own_models.finetune.backend import FineTuneBackend
    from drgero.providers.types import EndpointAuth

    url = FineTuneBackend(settings.fine_tune).inference_url
    key = settings.fine_tune.api_key
    auth = EndpointAuth(kind="bearer", secret=key) if key else EndpointAuth()
    endpoint = drgero_models.EndpointIn(url=url, model=fine_tuned_model, auth=auth)
    record = drgero_models._version_record(  # noqa: SLF001 - the one builder of version records
        settings, clients, item["workspace_id"], item["model_id"], number, endpoint, _iso(_now())
    )
    record["source"] = "fine_tune"
    record["fine_tune_job_id"] = item["id"]
    return record


# ------------------------------------------------------------------ cancel
def cancel_job(
    table: MetadataTable,
    settings: Settings,
    clients: AwsClients,
    workspace_id: str,
    model_id: str,
    job_id: str,
    *,
    backend_factory: BackendFactory = default_backend,
) -> dict[str, Any]:
    item = get_job(table, workspace_id, model_id, job_id)
    if item["status"] in TERMINAL:
        raise ApiError(
            409, "fine_tune_finished", f"This fine-tune job has already {item['status']}.", {"status": item["status"]}
        )
    job: BackendJob | None = None
    if item.get("backend_job_id"):
        settings = with_backend_key(settings, clients)
        backend = backend_factory(settings)
        try:
            job = backend.cancel_job(item["backend_job_id"])
        except BackendError as exc:
            if exc.retryable:
                raise ApiError(
                    502, "fine_tune_backend_error", f"The fine-tuning backend could not cancel the job: {exc.message}"
                ) from exc
            # Refused, typically because it just finished: record what the backend says.
            try:
                job = backend.get_job(item["backend_job_id"])
            except BackendError as read_exc:
                raise ApiError(
                    502, "fine_tune_backend_error", f"The fine-tuning backend refused the cancel: {exc.message}"
                ) from read_exc
            return apply(table, settings, clients, item, job)
        finally:
            backend.close()
    return finish(table, settings, clients, item, CANCELLED, backend_job=job)


# ------------------------------------------------------------------ polling
def apply(
    table: MetadataTable, settings: Settings, clients: AwsClients, item: dict[str, Any], job: BackendJob
) -> dict[str, Any]:
    """Brings the job record in line with the backend's view of it."""
    if job.status == SUCCEEDED:
        return complete(table, settings, clients, item, job)
    if job.status == FAILED:
        return finish(
            table,
            settings,
            clients,
            item,
            FAILED,
            backend_job=job,
            error=job.error or "The fine-tuning backend reported a failure without a message.",
        )
    if job.status == CANCELLED:
        return finish(table, settings, clients, item, CANCELLED, backend_job=job)
    if job.status == item.get("backend_status"):
        return item
    try:
        return table.update(
            item["pk"],
            item["sk"],
            "SET #st = :st, #bs = :st, #u = :u",
            {"#st": "status", "#bs": "backend_status", "#u": "updated_at"},
            {":st": job.status, ":u": _iso(_now()), ":a": SUCCEEDED, ":b": FAILED, ":c": CANCELLED},
            condition=Condition("attribute_exists(pk) AND NOT #st IN (:a, :b, :c)"),
        )
    except ClientError as exc:
        if not is_conditional_failure(exc):
            raise
        return table.get(item["pk"], item["sk"]) or item


def poll_jobs(
    settings: Settings,
    clients: AwsClients,
    *,
    backend_factory: BackendFactory = default_backend,
    now: datetime | None = None,
) -> dict[str, int]:
    """The sweeper's ``fine_tune_poll`` job: every active job, once. One job's trouble is
    logged and counted, never allowed to stop the others."""
    table = MetadataTable(clients.dynamodb, settings.aws.table_name)
    now = now or _now()
    counts = {"polled": 0, "resumed": 0, "succeeded": 0, "failed": 0, "cancelled": 0, "errors": 0}
    entries, _ = table.query(ACTIVE_INDEX_PK, index="gsi1", limit=settings.fine_tune.poll_max_jobs)
    if not entries:
        return counts
    settings = with_backend_key(settings, clients)
    backend = backend_factory(settings)
    try:
        for entry in entries:
            item = table.get(entry["pk"], entry["sk"])
            if not item or item.get("status") in TERMINAL:
                continue
            try:
                if not item.get("backend_job_id"):
                    age = (now - _parse_iso(item["updated_at"])).total_seconds()
                    if age >= settings.fine_tune.resume_after_seconds:
                        counts["resumed"] += 1
                        item = start(table, settings, clients, item, backend_factory=backend_factory)
                    continue
                counts["polled"] += 1
                item = apply(table, settings, clients, item, backend.get_job(item["backend_job_id"]))
            except (BackendError, ApiError, ClientError) as exc:
                # A backend hiccup, a model that keeps changing, an AWS error on this job's
                # items: retried next sweep; the other jobs go on.
                counts["errors"] += 1
                logger.warning("fine-tune poll failed", extra={"job_id": item["id"], "error": str(exc)})
                continue
            if item.get("status") in TERMINAL:
                counts[item["status"]] += 1
    finally:
        backend.close()
    return counts


# ------------------------------------------------------------------ traces
def _emit_trace(settings: Settings, clients: AwsClients, item: dict[str, Any]) -> None:
    """One ``fine_tune`` trace per ended job; its id comes from the job id, so a repeat is
    stored once. A trace that cannot be queued is logged: the job record is the truth."""
    from drgero.traces import QueueSink, Trace, TraceEmitError

    error = (item.get("error") or {}).get("message")
    try:
        trace = Trace(
            id=trace_id_of(item["id"]),
            workspace_id=item["workspace_id"],
            leaderboard_id=item["leaderboard_id"],
            kind="fine_tune",
            name=f"fine-tune {item['base_model']}"[:200],
            duration_ms=float(item.get("execution_seconds") or 0) * 1000,
            status="error" if item["status"] == FAILED else "ok",
            error=error[:2000] if error and item["status"] == FAILED else None,
            model={"id": item["model_id"], "platform": "drgero", "name": item.get("fine_tuned_model")},
            cost_usd=item.get("cost_usd"),
            metadata={
                "job_id": item["id"],
                "status": item["status"],
                "source": item.get("source"),
                "provider": item.get("provider"),
                "backend_job_id": item.get("backend_job_id"),
                "base_model": item["base_model"],
                "dataset_version": item["dataset"].get("version"),
                "training_rows": (item.get("training") or {}).get("rows"),
                "validation_rows": (item.get("training") or {}).get("validation_rows"),
                "trained_tokens": item.get("trained_tokens"),
                "model_version": item.get("model_version"),
                "note": error if item["status"] != FAILED else None,
            },
        )
        QueueSink.from_clients(settings, clients).emit(trace)
    except TraceEmitError as exc:
        logger.warning("fine-tune trace not queued", extra={"job_id": item["id"], "error": str(exc)})
