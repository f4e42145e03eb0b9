"""Counting finished shards exactly once, and what happens when the last one finishes.

A shard finishes in ONE transaction: its item moves from ``pending``/``evaluated`` to
``done``/``cancelled`` (conditional on the state) and the run's ``shards_done`` grows by one.
(``shards_done`` counts FINISHED shards, whatever their end: the completion check compares it
with ``shards_total``. A shard that ends ``cancelled`` also grows ``shards_cancelled``, so the
run's progress can say what really ran: :func:`drgero.runs.records.public_run`.)
A duplicate delivery fails the condition and adds nothing. Whoever sees
``shards_done == shards_total`` afterwards calls :func:`maybe_finish`, which moves the run
with a conditional status transition, so exactly one caller aggregates; a crash in the middle
of aggregation is retaken after ``runs.aggregation_lease_seconds`` by the next redelivery.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from drgero.core import clock
from drgero.core.aws import AwsClients
from drgero.core.settings import Settings
from drgero.runs import records
from drgero.store.keys import run_key, shard_key
from drgero.store.table import Condition, MetadataTable, is_conditional_failure


@dataclass(frozen=True)
class ShardCount:
    """What :func:`count_shard` did: ``counted`` False is a duplicate (nothing counted);
    ``may_be_last`` True when the run may now have every shard finished (the caller runs
    :func:`maybe_finish`, which reads the run); False when the count itself proved others
    are still to come (no read needed)."""

    counted: bool
    may_be_last: bool


# Why a TransactWriteItems was cancelled, per item in order (None: that item was fine).
def _cancellation_codes(exc: ClientError) -> list[str | None]:
    reasons = exc.response.get("CancellationReasons") or []
    return [None if r.get("Code") in (None, "None") else r.get("Code") for r in reasons]


# Conflicting transactions on the run item (every shard of a run counts on it) are cancelled
# with TransactionConflict, which the SDK does not retry: retried here, a few times.
CONFLICT_ATTEMPTS = 5


def count_shard(
    table: MetadataTable,
    run_id: str,
    shard_id: str,
    final_state: str,
    from_states: tuple[str, ...],
    stats: dict[str, Any],
    *,
    shards_total: int | None = None,
    also: tuple[dict[str, Any], ...] = (),
) -> ShardCount:
    """Marks the shard finished and counts it on the run, atomically (one TransactWriteItems).

    ``shards_total`` (the run's, immutable once fanned out): the count is first tried on the
    condition that it is not the run's last (``shards_done < shards_total - 1``); when that
    holds, the caller knows without reading the run that it need not finish it. When it fails
    the count is made again without it and the caller checks (the last shard, or a race with
    other counts near the end: exactly the count that reaches ``shards_total`` takes this
    path). ``also``: further operations of the same transaction that must not decide the
    count (the provider-key lease's release, :mod:`drgero.runs.key_lease`): when one of
    them fails its condition (its lease was reclaimed), the count is made without it."""
    names = {"#state": "state"}
    values: dict[str, Any] = {":final": final_state, ":now": clock.iso_millis()}
    sets = ["#state = :final", "finished_at = :now"]
    for i, (name, value) in enumerate(stats.items()):
        names[f"#s{i}"] = name
        values[f":s{i}"] = value
        sets.append(f"#s{i} = :s{i}")
    froms = {f":from{i}": state for i, state in enumerate(from_states)}
    values.update(froms)
    # Every counted shard is progress: the run sweep fails a run whose progress_at is too old.
    counters = "SET progress_at = :now ADD shards_done :one"
    if final_state == records.SHARD_CANCELLED:
        counters += ", shards_cancelled :one"
    shard_op = {
        "update": shard_key(run_id, shard_id),
        "expression": "SET " + ", ".join(sets),
        "names": names,
        "values": values,
        "condition": Condition(f"#state IN ({', '.join(froms)})", names={"#state": "state"}),
    }
    not_last = shards_total is not None and shards_total > 1
    extra = list(also)
    attempts = 0
    while True:
        run_condition = "attribute_exists(pk)"
        run_values: dict[str, Any] = {":one": 1, ":now": values[":now"]}
        if not_last:
            run_condition += " AND shards_done < :last"
            run_values[":last"] = int(shards_total or 0) - 1
        run_op = {"update": run_key(run_id), "expression": counters, "values": run_values,
                  "condition": Condition(run_condition)}  # fmt: skip
        try:
            table.transact([shard_op, run_op, *extra])
            return ShardCount(counted=True, may_be_last=not not_last)
        except ClientError as exc:
            action = _after_cancel(exc, not_last)
            if action == "duplicate":
                return ShardCount(counted=False, may_be_last=True)
            if action == "conflict":
                attempts += 1
                if attempts >= CONFLICT_ATTEMPTS:
                    raise
            elif action == "count_then_check":
                not_last = False  # the run's last count (or near it): count, then check
            elif action == "without_extra":
                extra = []  # a lease already reclaimed: its release is moot
            else:
                raise


def _after_cancel(exc: ClientError, not_last: bool) -> str:
    """What to do after a cancelled count transaction (items: shard, run, extras)."""
    if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
        return "raise"
    codes = _cancellation_codes(exc)
    if not codes:  # no reasons given: a failed condition is taken as a duplicate
        return "duplicate" if is_conditional_failure(exc) else "raise"
    if codes[0] == "ConditionalCheckFailed":
        return "duplicate"  # the shard is already finished
    if "TransactionConflict" in codes:
        return "conflict"
    if len(codes) > 1 and codes[1] == "ConditionalCheckFailed":
        # Not the run's last count after all, or the run item is gone (then nothing counts).
        return "count_then_check" if not_last else "duplicate"
    if "ConditionalCheckFailed" in codes[2:]:
        return "without_extra"
    return "raise"


def complete_shard(
    table: MetadataTable,
    run_id: str,
    shard_id: str,
    final_state: str,
    from_states: tuple[str, ...],
    stats: dict[str, Any],
) -> bool:
    """Marks the shard finished and counts it on the run, atomically. False: it was already
    finished (a duplicate delivery), nothing counted."""
    return count_shard(table, run_id, shard_id, final_state, from_states, stats).counted


def maybe_finish(settings: Settings, clients: AwsClients, run_id: str) -> str | None:
    """When every shard is finished: move the run on (review, or aggregation) exactly once.
    Returns what was done (``awaiting_review``, the final status) or None."""
    table = clients.table
    run = records.get_run(table, run_id)
    if not run or run.get("shards_total") is None:
        return None
    if int(run.get("shards_done") or 0) < int(run["shards_total"]):
        return None
    status = run["status"]
    if status == records.RUNNING and run.get("evaluation_type") == "human":
        # Cold start: review (with the provider layer) loads only when a human-graded run's last
        # shard finishes (evaluate function). Also a cycle: review imports this module.
        from drgero.runs.review import open_review

        return open_review(settings, clients, run)
    return take_aggregation(settings, clients, run)


def aggregation_lease(settings: Settings) -> tuple[str, dict[str, Any]]:
    """A new aggregation owner and the attributes that hold its lease on the run."""
    owner = uuid.uuid4().hex
    until = int(clock.now().timestamp() + settings.runs.aggregation_lease_seconds)
    return owner, {"aggregation_owner": owner, "aggregation_lease_until": until}


def lease_over(run: dict[str, Any]) -> bool:
    """True when no aggregation holds the run (its lease, if any, has run out)."""
    return float(run.get("aggregation_lease_until") or 0) < clock.now().timestamp()


def take_aggregation(settings: Settings, clients: AwsClients, run: dict[str, Any]) -> str | None:
    """Conditionally moves the run to ``aggregating`` (or retakes a stale aggregation) and
    aggregates. Only the caller whose transition succeeded aggregates."""
    table = clients.table
    status = run["status"]
    now = clock.now().timestamp()
    owner, lease = aggregation_lease(settings)
    if status in (records.RUNNING, records.AWAITING_REVIEW):
        taken = records.transition(
            table, run["id"], (status,), records.AGGREGATING, {**lease, "finish_as": records.COMPLETED}
        )
    elif status == records.CANCELLING:
        taken = records.transition(
            table, run["id"], (status,), records.AGGREGATING, {**lease, "finish_as": records.CANCELLED}
        )
    elif status == records.AGGREGATING and lease_over(run):
        taken = records.transition(
            table,
            run["id"],
            (records.AGGREGATING,),
            records.AGGREGATING,
            lease,
            extra_condition="aggregation_lease_until < :lease_now",
            extra_values={":lease_now": int(now)},
        )
    else:
        return None
    if taken is None:
        return None
    # Cold start: aggregation (statistics, the provider layer) loads only for the run's last
    # shard (evaluate and judge functions).
    from drgero.runs.aggregate import aggregate

    return aggregate(settings, clients, taken, owner)
