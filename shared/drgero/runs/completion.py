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
from typing import Any

from botocore.exceptions import ClientError

from drgero.core import clock
from drgero.core.aws import AwsClients
from drgero.core.settings import Settings
from drgero.runs import records
from drgero.store.keys import run_key, shard_key
from drgero.store.table import Condition, MetadataTable, is_conditional_failure


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
    try:
        table.transact(
            [
                {
                    "update": shard_key(run_id, shard_id),
                    "expression": "SET " + ", ".join(sets),
                    "names": names,
                    "values": values,
                    "condition": Condition(f"#state IN ({', '.join(froms)})", names={"#state": "state"}),
                },
                {
                    "update": run_key(run_id),
                    "expression": counters,
                    "values": {":one": 1, ":now": values[":now"]},
                    "condition": Condition("attribute_exists(pk)"),
                },
            ]
        )
        return True
    except ClientError as exc:
        if is_conditional_failure(exc):
            return False
        raise


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
