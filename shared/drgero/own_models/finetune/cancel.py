"""Cancelling a job (``POST /api/models/{id}/fine-tunes/{job}/cancel``): on the backend first
when it has a backend job, then the ending; a backend that refuses (the job just finished)
has its own view recorded instead."""

from __future__ import annotations

from typing import Any

from drgero.core.aws import AwsClients
from drgero.core.errors import ApiError
from drgero.core.settings import Settings
from drgero.own_models.finetune.backend import (
    BackendError,
    BackendFactory,
    BackendJob,
    default_backend,
    with_backend_key,
)
from drgero.own_models.finetune.endings import finish
from drgero.own_models.finetune.poll import apply
from drgero.own_models.finetune.records import CANCELLED, TERMINAL, get_job
from drgero.store.table import MetadataTable


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
