"""The run sweep (the sweeper's ``run_sweep`` job): runs always end.

Two ways a run can stop moving without anyone ending it, each ended by
:func:`drgero.runs.failure.end_stuck_run` (failed, naming the step, keeping what was scored):

1. **Dead-lettered work.** The runs, evaluate and judge DLQs (``aws.*_dlq_url``) are read.
   Each message names its run (and shard); a message is deleted only once its run has ended,
   was already over, or the message's own work turns out to be done (its shard is finished,
   or evaluated for an evaluate message: a duplicate that failed). A message that cannot be
   handled (unreadable, a schedule's message without a run, a run that does not exist, an
   unexpected error) is left in its DLQ, where its alarm keeps saying so.
2. **Stalls.** Every run not yet seen ended has an active-run entry (``RUN#{run}`` /
   ``ACTIVE``, gsi1 ``RUNS#ACTIVE``, written with the run: :mod:`drgero.runs.start`), so the
   sweep queries the index instead of scanning the table. A run whose ``progress_at`` is older
   than ``runs.stall_seconds`` is failed; an entry whose run has ended is deleted here.
   Runs awaiting review are left alone (a review may take days).

Receiving a message hides it for ``RECEIVE_VISIBILITY_SECONDS``; at most ``MAX_RECEIVES``
receives per queue and sweep, so a queue that refills cannot hold the sweep forever. Errors
do not stop the sweep: every other message and run is handled, then the sweep raises (the
sweeper's error alarm) with what failed logged.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from typing import Any

from pydantic import BaseModel, ValidationError

from drgero.core import clock
from drgero.core.aws import AwsClients
from drgero.core.settings import Settings
from drgero.runs import records
from drgero.runs.failure import BUSY, DEAD_LETTERED, STALLED, UNKNOWN, Stuck, end_stuck_run
from drgero.runs.messages import EvaluateMessage, JudgeMessage, RunMessage
from drgero.store.keys import ACTIVE_RUNS_INDEX_PK, active_run_key, shard_key

logger = logging.getLogger("drgero.runs")

RECEIVE_VISIBILITY_SECONDS = 120
MAX_RECEIVES = 20

# Outcomes after which a dead-lettered message stays in its DLQ.
KEEP = frozenset({BUSY, UNKNOWN, "unhandled"})


class RunSweepError(RuntimeError):
    """Some messages or runs could not be handled; every other one was."""


def sweep_runs(settings: Settings, clients: AwsClients) -> dict[str, int]:
    counts: Counter[str] = Counter()
    errors: list[str] = []
    queues = (
        (settings.aws.runs_dlq_url, records.STEP_FAN_OUT),
        (settings.aws.evaluate_dlq_url, records.STEP_EVALUATE),
        (settings.aws.judge_dlq_url, records.STEP_JUDGE),
    )
    for url, step in queues:
        if url:
            _read_dead_letters(settings, clients, url, step, counts, errors)
    _end_stalled(settings, clients, counts, errors)
    if errors:
        raise RunSweepError(f"{len(errors)} item(s) could not be handled: {', '.join(errors[:10])}")
    return dict(counts)


# ---------------------------------------------------------------- dead letters


def _read_dead_letters(
    settings: Settings, clients: AwsClients, url: str, step: str, counts: Counter[str], errors: list[str]
) -> None:
    for _ in range(MAX_RECEIVES):
        messages = clients.sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=RECEIVE_VISIBILITY_SECONDS,
            WaitTimeSeconds=0,
        ).get("Messages", [])
        if not messages:
            return
        for message in messages:
            try:
                outcome = _dead_letter(settings, clients, message["Body"], step)
            except Exception:  # one message's trouble must not stop the others; the sweep raises at the end
                logger.exception("dead-lettered message not handled", extra={"message_id": message["MessageId"]})
                errors.append(message["MessageId"])
                outcome = "unhandled"
            counts[f"dead_letters_{outcome}"] += 1
            if outcome not in KEEP:
                clients.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


_MESSAGES: dict[str, type[BaseModel]] = {
    records.STEP_FAN_OUT: RunMessage,
    records.STEP_EVALUATE: EvaluateMessage,
    records.STEP_JUDGE: JudgeMessage,
}


def _dead_letter(settings: Settings, clients: AwsClients, body: str, step: str) -> str:
    """Ends the run of one dead-lettered message; returns the outcome (KEEP: leave it)."""
    try:
        message: Any = _MESSAGES[step].model_validate(json.loads(body))
    except (ValueError, ValidationError):
        logger.warning("dead-lettered message unreadable: left in its DLQ", extra={"step": step})
        return UNKNOWN
    if message.run_id is None:
        # A schedule's message that never started a run: there is no run to end (a run it
        # did create is found by the stall check). It stays for the operator to see.
        where = {"leaderboard_id": message.leaderboard_id}
        logger.warning("dead-lettered schedule message: left in its DLQ", extra=where)
        return UNKNOWN
    run = records.get_run(clients.table, message.run_id)
    if run is None or run["workspace_id"] != message.workspace_id or run["leaderboard_id"] != message.leaderboard_id:
        logger.warning("dead-lettered message names no run: left in its DLQ", extra={"run_id": message.run_id})
        return UNKNOWN
    if step != records.STEP_FAN_OUT and _work_done(clients, message, step):
        return "obsolete"
    return end_stuck_run(settings, clients, message.run_id, Stuck(DEAD_LETTERED, _detail(message, step), step))


def _work_done(clients: AwsClients, message: Any, step: str) -> bool:
    shard = clients.table.get(*shard_key(message.run_id, message.shard_id))
    done = set(records.SHARD_FINISHED)
    if step == records.STEP_EVALUATE:
        done.add(records.SHARD_EVALUATED)  # the judge message was sent before the shard moved
    return shard is not None and shard.get("state") in done


def _detail(message: Any, step: str) -> str:
    if step == records.STEP_EVALUATE:
        return f"model {message.model_id}, rows {message.row_start} to {message.row_end - 1}"
    if step == records.STEP_JUDGE:
        return f"model {message.model_id}, shard {message.shard_index}"
    return ""


# ---------------------------------------------------------------- stalls


def _end_stalled(settings: Settings, clients: AwsClients, counts: Counter[str], errors: list[str]) -> None:
    table = clients.table
    now = clock.now()
    for entry in table.query_all(ACTIVE_RUNS_INDEX_PK, index="gsi1"):
        run_id = entry["run_id"]
        try:
            outcome = _watch(settings, clients, run_id, now)
        except Exception:  # one run's trouble must not stop the others; the sweep raises at the end
            logger.exception("stalled run not handled", extra={"run_id": run_id})
            errors.append(run_id)
            outcome = "unhandled"
        counts[f"runs_{outcome}"] += 1


def _watch(settings: Settings, clients: AwsClients, run_id: str, now: Any) -> str:
    table = clients.table
    run = records.get_run(table, run_id)
    if run is None or run["status"] in records.FINAL_STATUSES:
        table.delete(*active_run_key(run_id))  # seen ended: the index keeps active runs only
        return "seen_ended"
    if run["status"] == records.AWAITING_REVIEW:
        return "awaiting_review"
    progress = records.progress_of(run)
    if (now - clock.parse_iso(progress)).total_seconds() < settings.runs.stall_seconds:
        return "moving"
    stuck = Stuck(STALLED, f"over {settings.runs.stall_seconds} s", progress_seen=progress)
    return end_stuck_run(settings, clients, run_id, stuck)
