"""Starting a job on the backend: upload the export (S3, then the backend), create the
backend job, record its id.

The start runs in the request; if it dies half-way (crash, backend down) the job stays
``starting`` and the poller resumes it after ``fine_tune.resume_after_seconds``: the export
is deterministic (same dataset object version, same prompt snapshot, same split), so a resume
uploads the same bytes. Known gap: a crash between the backend creating its job and our
write of its id would train twice on the retry (the OpenAI-style API has no idempotency key).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from botocore.exceptions import ClientError

from drgero.core import clock
from drgero.core.aws import AwsClients
from drgero.core.settings import Settings
from drgero.own_models.finetune.backend import BackendError, BackendFactory, default_backend, with_backend_key
from drgero.own_models.finetune.endings import finish
from drgero.own_models.finetune.export import build_export
from drgero.own_models.finetune.records import FAILED, STARTING, TERMINAL
from drgero.runs.dataset import read_lines
from drgero.store.keys import fine_tune_objects
from drgero.store.table import Condition, MetadataTable, is_conditional_failure

logger = logging.getLogger("drgero.own_models.finetune")


def export_for(settings: Settings, clients: AwsClients, prompt: str, dataset: dict[str, Any], fraction: float):
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
        export = export_for(settings, clients, item["prompt"], item["dataset"], float(item["validation_fraction"]))
    train_key, validation_key = fine_tune_objects(item["workspace_id"], item["id"])
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
                {":t": training, ":e": exc.message, ":u": clock.iso(), ":one": 1},
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
                ":sa": clock.iso(),
                ":u": clock.iso(),
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
