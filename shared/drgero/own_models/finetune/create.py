"""Creating a job (``POST /api/models/{id}/fine-tunes``, and schedules): export, then one
transaction that writes the job, takes the model's lock and records the Idempotency-Key, then
the start on the backend (start.py).

The lock makes two concurrent (or retried) requests unable to start two paid trainings of one
model; a retry with the same Idempotency-Key and body returns the first request's job.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from botocore.exceptions import ClientError

from drgero.core import clock
from drgero.core.aws import AwsClients
from drgero.core.errors import ApiError, not_found
from drgero.core.idempotency import key_reused
from drgero.core.ids import new_id
from drgero.core.settings import Settings
from drgero.core.validation import parse
from drgero.leaderboards.leaderboard import get_leaderboard
from drgero.own_models import registry as drgero_models
from drgero.own_models.finetune.backend import BackendFactory, default_backend
from drgero.own_models.finetune.bodies import FineTuneCreate
from drgero.own_models.finetune.records import STARTING
from drgero.own_models.finetune.start import export_for, start
from drgero.own_models.finetune.tracing import trace_id_of
from drgero.runs.dataset import pinned_dataset
from drgero.store.keys import (
    FINE_TUNE_ACTIVE_INDEX_PK,
    drgero_model_key,
    fine_tune_active_index_sk,
    fine_tune_idempotency_key,
    fine_tune_job_key,
    fine_tune_lock_key,
)
from drgero.store.table import Condition, MetadataTable, is_conditional_failure


def request_hash(body: Any) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _replay(table: MetadataTable, workspace_id: str, model_id: str, key: str, body: Any) -> dict[str, Any] | None:
    """The job a first request with this Idempotency-Key created (None: the key is new);
    422 ``idempotency_key_reused`` when the body differs."""
    record = table.get(*fine_tune_idempotency_key(workspace_id, model_id, key))
    if record is None or int(record.get("expires_at") or 0) < int(clock.now().timestamp()):
        return None
    if record.get("request_hash") != request_hash(body):
        raise key_reused()
    return table.get(*fine_tune_job_key(workspace_id, model_id, record["job_id"]))


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
    request: FineTuneCreate = parse(FineTuneCreate, body, "The fine-tune request is not valid.")
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
    export = export_for(settings, clients, leaderboard.get("prompt") or "", dataset, request.validation_fraction)
    now = clock.now()
    job_id = new_id("ftj")
    hyperparameters = request.hyperparameters.model_dump(exclude_none=True) if request.hyperparameters else {}
    pk, sk = fine_tune_job_key(workspace_id, model_id, job_id)
    item: dict[str, Any] = {
        "pk": pk,
        "sk": sk,
        "gsi1pk": FINE_TUNE_ACTIVE_INDEX_PK,
        "gsi1sk": fine_tune_active_index_sk(clock.iso(now), job_id),
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
        "created_at": clock.iso(now),
        "updated_at": clock.iso(now),
    }
    lpk, lsk = fine_tune_lock_key(workspace_id, model_id)
    idempotency: list[dict[str, Any]] = []
    if idempotency_key is not None:
        ipk, isk = fine_tune_idempotency_key(workspace_id, model_id, idempotency_key)
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
            "put": {"pk": lpk, "sk": lsk, "job_id": job_id, "created_at": clock.iso(now)},
            "condition": Condition("attribute_not_exists(pk)"),
        },
        # The model still exists and is not being deleted.
        {
            "check": drgero_model_key(workspace_id, model_id),
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
