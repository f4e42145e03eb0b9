"""The ``fine_tune`` trace every ended job emits (id derived from the job id)."""

from __future__ import annotations

import logging
from typing import Any

from drgero.core.aws import AwsClients
from drgero.core.settings import Settings
from drgero.own_models.finetune.records import FAILED
from drgero.traces import QueueSink, Trace, TraceEmitError

logger = logging.getLogger("drgero.own_models.finetune")


def emit_trace(settings: Settings, clients: AwsClients, item: dict[str, Any]) -> None:
    """One ``fine_tune`` trace per ended job; its id comes from the job id, so a repeat is
    stored once. A trace that cannot be queued is logged: the job record is the truth."""
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


def trace_id_of(job_id: str) -> str:
    """The id of a job's trace: derived from the job id, so every writer names the same trace."""
    return "tr_" + job_id.split("_", 1)[1]
