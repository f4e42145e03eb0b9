"""Cancelling a run: stop new calls quickly, keep a consistent, clearly marked partial record.

- ``queued`` (not fanned out yet): straight to ``cancelled``; the fan-out then does nothing.
- ``running``: to ``cancelling``. Workers re-read the status between rows (at most every
  ``runs.cancel_check_seconds``), stop starting calls, write what they have and count their
  shard as ``cancelled``; queued work items finish at once. When every shard is finished the
  usual aggregation ranks what was scored (rows never run are reported as ``not_run``) and
  the run ends ``cancelled`` with ``partial: true``; production never moves.
- ``awaiting_review``: to ``cancelled`` without a ranking.
- already stopping or finished: answered as it is (cancel is idempotent); a finished run is 409.
"""

from __future__ import annotations

from typing import Any

from drgero.core import clock
from drgero.core.aws import AwsClients
from drgero.core.errors import ApiError
from drgero.core.settings import Settings
from drgero.runs import records
from drgero.runs.charging import close_run_charge
from drgero.runs.completion import maybe_finish


def cancel_run(settings: Settings, clients: AwsClients, workspace_id: str, run_id: str) -> dict[str, Any]:
    table = clients.table
    for _attempt in range(5):
        run = records.get_run_for(table, workspace_id, run_id)
        status = run["status"]
        now = clock.iso_millis()
        if status in (records.COMPLETED, records.FAILED):
            raise ApiError(409, "run_finished", f"The run already finished ({status}); there is nothing to cancel.")
        if status in (records.CANCELLING, records.CANCELLED, records.AGGREGATING):
            return run
        if status in (records.QUEUED, records.AWAITING_REVIEW):
            moved = records.transition(
                table,
                run_id,
                (status,),
                records.CANCELLED,
                {"cancel_requested_at": now, "finished_at": now, "partial": True},
            )
            if moved:
                records.release_active_marker(table, moved)
                close_run_charge(table, moved)
                return moved
            continue  # the fan-out moved it meanwhile: look again
        moved = records.transition(table, run_id, (records.RUNNING,), records.CANCELLING, {"cancel_requested_at": now})
        if moved:
            # Every shard may already be finished (the last one raced us): finish now then.
            maybe_finish(settings, clients, run_id)
            return records.get_run(table, run_id) or moved
    raise ApiError(409, "concurrent_change", "The run changed while cancelling it; try again.")
