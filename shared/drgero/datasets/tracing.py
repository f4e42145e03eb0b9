"""Dataset traces (kind ``dataset``): one per consolidation that wrote a new dataset version,
and one (status ``error``) per set of pending batches a consolidation quarantined.

Pushes are not traced one by one: they are the apps' hot path (a fixed four AWS requests) and
each accepted push is already recorded as a batch (``GET …/dataset/status``). A consolidation
is the dataset event that changes what runs evaluate, so it leaves a trace. Its id is derived
from the leaderboard and the version, so a redelivered consolidation message re-emits the same
id and the trace writer stores it once. A trace that cannot be queued is logged; it never fails
the consolidation (the dataset pointer is the source of truth, the trace the audit copy).
"""

from __future__ import annotations

import hashlib
import logging

from drgero.core.aws import AwsClients
from drgero.core.settings import Settings
from drgero.traces import QueueSink, Trace, TraceEmitError, TraceStatus

logger = logging.getLogger("drgero.datasets")


def consolidation_trace_id(leaderboard_id: str, version: int) -> str:
    return "tr_" + hashlib.sha256(f"dataset:{leaderboard_id}:v{version}".encode()).hexdigest()[:26]


def emit_consolidation_trace(
    settings: Settings, clients: AwsClients, workspace_id: str, leaderboard_id: str, result: dict
) -> None:
    try:
        trace = Trace(
            id=consolidation_trace_id(leaderboard_id, int(result["version"])),
            workspace_id=workspace_id,
            leaderboard_id=leaderboard_id,
            kind="dataset",
            name=f"dataset consolidated: version {result['version']}",
            metadata=result,
        )
        QueueSink.from_clients(settings, clients).emit(trace)
    except TraceEmitError as exc:
        logger.warning("dataset trace not queued", extra={"error": str(exc)})


def emit_quarantine_trace(
    settings: Settings, clients: AwsClients, workspace_id: str, leaderboard_id: str, quarantined: list[dict]
) -> None:
    """The audit record of quarantined pending batches (their ids, rows and reasons). The id is
    derived from the batch ids: a redelivered message re-emits the same trace."""
    ids = ",".join(sorted(q["batch_id"] for q in quarantined))
    rows = sum(int(q["rows"]) for q in quarantined)
    try:
        trace = Trace(
            id="tr_" + hashlib.sha256(f"quarantine:{leaderboard_id}:{ids}".encode()).hexdigest()[:26],
            workspace_id=workspace_id,
            leaderboard_id=leaderboard_id,
            kind="dataset",
            name=f"pending batches quarantined: {len(quarantined)} ({rows} rows)",
            status=TraceStatus.ERROR,
            error="; ".join(f"{q['batch_id']}: {q['reason']}" for q in quarantined)[:2000],
            metadata={"quarantined": quarantined},
        )
        QueueSink.from_clients(settings, clients).emit(trace)
    except TraceEmitError as exc:
        logger.warning("dataset trace not queued", extra={"error": str(exc)})
