"""Run traces (kind ``run``): one per (model x shard) and one per finished run.

Trace ids are derived from the shard / run ids, so a redelivered message re-emits the same id
and the trace writer stores it once. A trace that cannot be queued is logged, never allowed to
fail the shard: the run record is the source of truth, the trace is the audit copy.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from drgero.core.aws import AwsClients
from drgero.core.settings import Settings
from drgero.traces import QueueSink, RedactionPolicy, Trace, TraceEmitError, redact

logger = logging.getLogger("drgero.runs")


def trace_id_for(ref: str, suffix: str = "") -> str:
    """``tr_`` + 26 id characters taken from a run id (``run_`` + 26) or a shard id
    (``shd_`` + 24 hex) plus a 2-character suffix."""
    body = ref.split("_", 1)[1].lower()
    return "tr_" + (body + suffix)[-26:].rjust(26, "0")


def emit_run_trace(settings: Settings, clients: AwsClients, leaderboard: dict[str, Any] | None, **fields: Any) -> None:
    try:
        trace = Trace(kind="run", **fields)
        trace = redact(trace, RedactionPolicy.of_leaderboard(leaderboard))
        QueueSink.from_clients(settings, clients).emit(trace)
    except TraceEmitError as exc:
        logger.warning("run trace not queued", extra={"error": str(exc)})
    except ValueError as exc:  # pydantic validation of a field we built: a bug, but not worth a lost shard
        logger.error("run trace invalid", extra={"error": str(exc)})


def run_async(coroutine: Any) -> Any:
    """Runs a coroutine on a fresh event loop without touching the thread's current loop
    (``asyncio.run`` would unset it, and Mangum in the same thread relies on it)."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coroutine)
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
