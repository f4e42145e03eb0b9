"""Dataset-improvement runs: after a consolidation adds at least N rows, re-rank.

N is the PUSH dataset's ``improvement_run_min_new_rows`` (unset: off). The consolidation code
calls :func:`maybe_start_improvement_run` with the rows that consolidation merged; a run that
cannot start (another run active, fewer than 2 models) is skipped: the next consolidation
that crosses the threshold tries again.
"""

from __future__ import annotations

import logging
from typing import Any

from drgero.core.aws import AwsClients
from drgero.core.errors import ApiError
from drgero.core.settings import Settings
from drgero.runs.start import start_run
from drgero.store.keys import leaderboard_key

logger = logging.getLogger("drgero.runs")


def improvement_threshold(leaderboard: dict[str, Any]) -> int | None:
    value = (leaderboard.get("dataset") or {}).get("improvement_run_min_new_rows")
    return int(value) if value else None


def maybe_start_improvement_run(
    settings: Settings, clients: AwsClients, workspace_id: str, leaderboard_id: str, new_rows: int
) -> str | None:
    """Starts a ``dataset_improvement`` run when ``new_rows`` reaches the leaderboard's
    threshold; returns the run id, or None (off, below threshold, or skipped)."""
    table = clients.table
    leaderboard = table.get(*leaderboard_key(workspace_id, leaderboard_id))
    threshold = improvement_threshold(leaderboard or {})
    if not leaderboard or threshold is None or new_rows < threshold:
        return None
    try:
        run = start_run(settings, clients, workspace_id, leaderboard_id, None, "dataset_improvement")
    except ApiError as exc:
        logger.info("dataset improvement run skipped", extra={"leaderboard_id": leaderboard_id, "code": exc.code})
        return None
    logger.info("dataset improvement run started", extra={"run_id": run["id"], "new_rows": new_rows})
    return run["id"]
