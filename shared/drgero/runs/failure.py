"""Ending a run that cannot end by itself: its work was dead-lettered, or it made no progress
for ``runs.stall_seconds``. :mod:`drgero.runs.sweep` finds such runs; this module ends one.

The run ends ``failed`` with ``error: {code, message, step}`` and ``partial: true``, keeping
what was scored; the leaderboard's active-run marker is released, production never moves:

- ``queued`` (step fan-out): straight to ``failed``; nothing was scored.
- ``running`` / ``cancelling``: if every shard is finished after all (the lost message was not
  needed), the run ends the usual way (:func:`drgero.runs.completion.maybe_finish`).
  Otherwise ONE conditional transition to ``aggregating`` with ``finish_as: failed`` and the
  error, then the usual aggregation (:mod:`drgero.runs.aggregate`) ranks what was scored (rows
  never run are ``not_run``), releases the marker, emits the run trace (``run failed``) and
  sets ``failed``. Workers still busy on the run find it ``failed`` and stop.
- ``aggregating`` (step aggregation): the aggregation itself is stuck. Once its lease is over,
  straight to ``failed`` (conditional on the lease still being over), keeping an error set by
  an earlier attempt; no new ranking, since aggregating is what fails.
- ``awaiting_review`` and final runs are not stuck: nothing is done.

Exactly once: every move is conditional on the status read (and, for a stall, on
``progress_at`` being the value read), so a run that progresses or finishes meanwhile is left
as it is, and of two concurrent sweepers one moves the run while the other finds it moved.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from drgero.core import clock
from drgero.core.aws import AwsClients
from drgero.core.settings import Settings
from drgero.runs import records
from drgero.runs.charging import close_run_charge
from drgero.runs.completion import aggregation_lease, lease_over, maybe_finish
from drgero.store.keys import SHARD_PREFIX, run_pk
from drgero.store.table import MetadataTable

logger = logging.getLogger("drgero.runs")

# Error codes of a run ended here.
DEAD_LETTERED, STALLED = "dead_lettered", "stalled"

# What end_stuck_run did. The sweep deletes a dead-lettered message on every outcome but
# BUSY and UNKNOWN (look again at the next sweep).
FAILED = "failed"  # the run was failed here
ENDED = "ended"  # every shard was finished: the run ended the usual way
NOT_STUCK = "not_stuck"  # final, awaiting review, or it moved since it was read
BUSY = "busy"  # an aggregation holds the run, or another worker moved it: look again later
UNKNOWN = "unknown"  # no such run


@dataclass(frozen=True)
class Stuck:
    """Why a run is being ended. ``detail`` completes the error message (which work item was
    lost; how long the run stalled). ``step`` is where its work was lost (the DLQ's step), or
    None to read it from the run (a stall); ``progress_seen`` (a stall) is the ``progress_at``
    the sweep judged too old: the run is failed only if it has not moved since."""

    code: str
    detail: str = ""
    step: str | None = None
    progress_seen: str | None = None


def end_stuck_run(settings: Settings, clients: AwsClients, run_id: str, stuck: Stuck) -> str:
    table = clients.table
    run = records.get_run(table, run_id)
    if run is None:
        return UNKNOWN
    status = run["status"]
    if status in records.FINAL_STATUSES or status == records.AWAITING_REVIEW:
        return NOT_STUCK
    if stuck.progress_seen is not None and records.progress_of(run) != stuck.progress_seen:
        return NOT_STUCK
    if status == records.QUEUED:
        error = _error(stuck, records.STEP_FAN_OUT)
        return _fail_now(table, run, error, stuck)
    if status == records.AGGREGATING:
        if not lease_over(run):
            return BUSY
        error = run.get("error") or _error(stuck, records.STEP_AGGREGATION)
        return _fail_now(table, run, error, stuck, lease_expired=True)
    if int(run.get("shards_done") or 0) >= int(run.get("shards_total") or 0) > 0:
        maybe_finish(settings, clients, run_id)
        return ENDED
    error = _error(stuck, stuck.step or stalled_step(table, run))
    return _fail_with_ranking(settings, clients, run, error, stuck)


def stalled_step(table: MetadataTable, run: dict[str, Any]) -> str:
    """The step a running run waits on: a shard still to evaluate, else one still to judge."""
    states = {s.get("state") for s in table.query_all(run_pk(run["id"]), SHARD_PREFIX, consistent=True)}
    if records.SHARD_PENDING in states:
        return records.STEP_EVALUATE
    if records.SHARD_EVALUATED in states:
        return records.STEP_JUDGE
    return records.STEP_AGGREGATION


def _error(stuck: Stuck, step: str) -> dict[str, str]:
    if stuck.code == DEAD_LETTERED:
        message = f"The {step} step's work failed repeatedly and was dead-lettered"
        message += f" ({stuck.detail})" if stuck.detail else ""
    else:
        message = f"The run made no progress in its {step} step for {stuck.detail or 'too long'}"
    return records.run_error(stuck.code, message + "; what was scored is kept.", step)


def _log_fields(run: dict[str, Any], error: dict[str, str]) -> dict[str, str]:
    return {"run_id": run["id"], "code": error["code"], "step": error["step"]}


def _unchanged(run: dict[str, Any], stuck: Stuck) -> tuple[str, dict[str, Any]]:
    """The condition that the run has not moved since the sweep read it (stalls only)."""
    if stuck.progress_seen is None:
        return "", {}
    if "progress_at" not in run:
        return "attribute_not_exists(progress_at)", {}
    return "progress_at = :seen", {":seen": run["progress_at"]}


def _fail_now(
    table: MetadataTable, run: dict[str, Any], error: dict[str, str], stuck: Stuck, *, lease_expired: bool = False
) -> str:
    condition, values = _unchanged(run, stuck)
    if lease_expired:
        condition = " AND ".join(c for c in (condition, "aggregation_lease_until < :lease_now") if c)
        values[":lease_now"] = int(clock.now().timestamp())
    moved = records.transition(
        table,
        run["id"],
        (run["status"],),
        records.FAILED,
        {"error": error, "finished_at": clock.iso_millis(), "partial": True},
        extra_condition=condition,
        extra_values=values,
    )
    if moved is None:
        return BUSY
    records.release_active_marker(table, moved)
    close_run_charge(table, moved)
    logger.warning("run failed", extra=_log_fields(run, error))
    return FAILED


def _fail_with_ranking(
    settings: Settings, clients: AwsClients, run: dict[str, Any], error: dict[str, str], stuck: Stuck
) -> str:
    condition, values = _unchanged(run, stuck)
    owner, lease = aggregation_lease(settings)
    taken = records.transition(
        clients.table,
        run["id"],
        (records.RUNNING, records.CANCELLING),
        records.AGGREGATING,
        {**lease, "finish_as": records.FAILED, "error": error},
        extra_condition=condition,
        extra_values=values,
    )
    if taken is None:
        return BUSY
    logger.warning("run failing: ranking what was scored", extra=_log_fields(run, error))
    # Cold start: the ranking subtree (drgero.evaluation) loads only when a stuck run is failed,
    # not with every run sweep (the same reason drgero.runs.completion defers it).
    from drgero.runs.aggregate import aggregate

    aggregate(settings, clients, taken, owner)
    return FAILED
