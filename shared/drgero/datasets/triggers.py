"""What starts a consolidation: a queue message (from the every-N-events threshold, the API or
the sweep), and the sweep that finds datasets due by time or by size.

Queue message body (ConsolidateQueue)::

    {"workspace_id": "ws_…", "leaderboard_id": "lb_…", "reason": "events_threshold" | "api" |
     "sweep" | "continue", "requested_at": "2026-11-24T12:00:00Z"}

Delivery is at least once: a duplicate finds nothing pending and does nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from drgero.core import clock
from drgero.core.aws import AwsClients
from drgero.core.settings import Settings
from drgero.datasets.consolidate import ConsolidationResult, Consolidator
from drgero.datasets.push import enqueue_consolidation as enqueue
from drgero.store.keys import PUSH_DATASETS_INDEX_PK, leaderboard_key

Reason = Literal["events_threshold", "api", "sweep", "continue"]


class ConsolidateMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    workspace_id: str = Field(min_length=1, max_length=100)
    leaderboard_id: str = Field(min_length=1, max_length=100)
    reason: Reason = "sweep"
    requested_at: str | None = None


def after_consolidation(
    settings: Settings, clients: AwsClients, workspace_id: str, leaderboard_id: str, result: ConsolidationResult
) -> None:
    """What follows a consolidation that wrote a new version, wherever it ran (the queue or the
    API's inline path): its dataset trace, and a dataset-improvement run when enough new rows
    arrived (docs/runs.md). Quarantined pending batches leave an error trace either way."""
    # Cold start: these load only after a consolidation. The run-start subtree (evaluation,
    # regex: ~15 modules) stays off the consolidate function's import, the trace module off
    # the api function's (which imports this module for its consolidate route).
    from drgero.datasets.tracing import emit_consolidation_trace, emit_quarantine_trace
    from drgero.runs.improvement import maybe_start_improvement_run

    if result.quarantined:
        emit_quarantine_trace(settings, clients, workspace_id, leaderboard_id, result.quarantined)
    if result.status != "consolidated":
        return

    emit_consolidation_trace(settings, clients, workspace_id, leaderboard_id, result.body())
    maybe_start_improvement_run(settings, clients, workspace_id, leaderboard_id, result.rows_in)


def handle_message(settings: Settings, clients: AwsClients, message: ConsolidateMessage) -> ConsolidationResult:
    """One queue message: consolidate, and queue a follow-up when pending rows remain (more
    batches than one run takes, or rows that arrived while this run held the lease)."""
    result = Consolidator(settings, clients).consolidate(message.workspace_id, message.leaderboard_id)
    if result.status == "consolidated" and (result.more_pending or result.pending > 0):
        enqueue(settings, clients, message.workspace_id, message.leaderboard_id, "continue")
    after_consolidation(settings, clients, message.workspace_id, message.leaderboard_id, result)
    return result


def consolidation_sweep(settings: Settings, clients: AwsClients, now: datetime | None = None) -> dict[str, int]:
    """Queues every PUSH dataset that has pending rows and is due: its every-N-hours interval
    has passed since the last consolidation (default limits.consolidate_default_every_hours),
    or it holds at least its every-N-events rows (a threshold message that was lost)."""
    now = now or clock.now()
    table = clients.table
    checked = queued = 0
    for record in table.query_all(PUSH_DATASETS_INDEX_PK, index="gsi1"):
        checked += 1
        pending = int(record.get("accepted_rows") or 0) - int(record.get("consumed_rows") or 0)
        if pending <= 0:
            continue
        leaderboard = table.get(*leaderboard_key(record["workspace_id"], record["leaderboard_id"]))
        if not leaderboard:
            continue
        config = leaderboard.get("dataset") or {}
        hours = float(config.get("consolidate_every_hours") or settings.limits.consolidate_default_every_hours)
        last = clock.parse_iso(str(record.get("last_consolidated_at") or record["created_at"]))
        every = config.get("consolidate_every_events")
        if (now - last).total_seconds() >= hours * 3600 or (every and pending >= int(every)):
            enqueue(settings, clients, record["workspace_id"], record["leaderboard_id"], "sweep")
            queued += 1
    return {"checked": checked, "queued": queued}
