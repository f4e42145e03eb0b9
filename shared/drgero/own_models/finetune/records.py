"""The fine-tune job item: its statuses, reads, and public view.

Lifecycle: ``starting`` (exported, not yet on the backend) -> the backend's states
(``validating_files``, ``queued``, ``running``) -> ``succeeded`` | ``failed`` | ``cancelled``.
"""

from __future__ import annotations

from typing import Any

from drgero.core.errors import not_found
from drgero.own_models import registry as drgero_models
from drgero.store.keys import fine_tune_job_key, fine_tune_jobs_prefix, workspace_pk
from drgero.store.table import MetadataTable

STARTING = "starting"
SUCCEEDED, FAILED, CANCELLED = "succeeded", "failed", "cancelled"
TERMINAL = (SUCCEEDED, FAILED, CANCELLED)


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
    item = table.get(*fine_tune_job_key(workspace_id, model_id, job_id))
    if not item:
        raise not_found("Fine-tune job")
    return item


def list_jobs(table: MetadataTable, workspace_id: str, model_id: str) -> list[dict[str, Any]]:
    """Newest first (job ids sort by creation time)."""
    drgero_models.get_model(table, workspace_id, model_id)
    return list(
        table.query_all(workspace_pk(workspace_id), fine_tune_jobs_prefix(model_id), forward=False, consistent=True)
    )


def latest_job(table: MetadataTable, workspace_id: str, model_id: str, leaderboard_id: str) -> dict[str, Any] | None:
    for item in table.query_all(
        workspace_pk(workspace_id), fine_tune_jobs_prefix(model_id), forward=False, consistent=True
    ):
        if item.get("leaderboard_id") == leaderboard_id:
            return item
    return None
