"""The fan-out: snapshot the run's configuration and dataset, then enqueue (model x shard)
work items.

Idempotent under redelivery, step by step:

1. A message without ``run_id`` (a schedule) starts a ``schedule`` run here; a redelivered
   schedule message finds that run active and is skipped (409), so it never starts two.
2. ``snapshot``: ONE conditional update (status ``queued`` -> ``running``) stores the
   leaderboard config, model configs (no secrets: a secret is referenced, never copied), the
   pinned dataset version and ``shards_total``. A redelivery finds the run ``running`` and reuses
   the stored snapshot (the leaderboard may have changed since; the run does not).
3. The shard row files (``runs/{run}/rows/{i}.jsonl``) and ``runs/{run}/snapshot.json`` are
   written from the pinned version: same content on every attempt.
4. Shard items ``SHARD#{shard_id}`` are created with ``attribute_not_exists``: a second
   fan-out creates nothing new, and completion is counted on these items only.
5. Work items go to the evaluate queue with SendMessageBatch; duplicates are harmless because
   a shard completes at most once (docs/runs.md).
"""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import ClientError

from drgero.core import clock, queues
from drgero.core.aws import AwsClients
from drgero.core.errors import ApiError
from drgero.core.settings import Settings
from drgero.evaluation.run_plan import plan_shards
from drgero.runs import records
from drgero.runs.charging import close_run_charge
from drgero.runs.dataset import pinned_dataset, read_lines
from drgero.runs.messages import RunMessage
from drgero.runs.start import record_failed_run, start_run
from drgero.store.keys import (
    candidate_key,
    candidate_sk,
    leaderboard_key,
    run_rows_object,
    run_snapshot_object,
    shard_key,
)
from drgero.store.table import Condition, MetadataTable, is_conditional_failure

logger = logging.getLogger("drgero.runs")


def leaderboard_snapshot(leaderboard: dict[str, Any]) -> dict[str, Any]:
    dataset = dict(leaderboard.get("dataset") or {})
    if isinstance(dataset.get("resolved"), dict):
        dataset["resolved"] = {k: v for k, v in dataset["resolved"].items() if k != "errors"}
    return {
        "id": leaderboard["id"],
        "name": leaderboard.get("name"),
        "prompt": leaderboard.get("prompt"),
        "dataset": dataset,
        "evaluation": leaderboard.get("evaluation"),
        "selection": leaderboard.get("selection"),
        "schedule": leaderboard.get("schedule"),
        "updated_at": leaderboard.get("updated_at"),
    }


def model_snapshot(item: dict[str, Any], evaluated: tuple[int, dict[str, Any]] | None = None) -> dict[str, Any]:
    """A model's configuration as the run used it. The item's ``config`` never holds the secret
    (candidates.py strips it); the snapshot says whether one exists and where it is kept.
    ``evaluated``: for a ``drgero`` candidate, ``(version, config)`` of the Dr.Gero model
    version this run evaluates (``version`` is recorded; the evaluate step calls exactly it)."""
    snapshot = {
        "id": item["id"],
        "platform": item.get("platform"),
        "name": item.get("name"),
        "config": evaluated[1] if evaluated else item.get("config") or {},
        "secret": {"configured": bool(item.get("secret_ciphertext")), "ref": candidate_sk(item["id"])}
        if item.get("secret_ciphertext")
        else {"configured": False},
    }
    if item.get("pricing"):
        snapshot["pricing"] = item["pricing"]
    if evaluated:
        snapshot["version"] = evaluated[0]
        if item.get("pinned_version") is not None:
            snapshot["pinned_version"] = item["pinned_version"]
    return snapshot


def _evaluated_version(table: MetadataTable, run: dict[str, Any], item: dict[str, Any]) -> Any:
    """For a ``drgero`` candidate: ``(version, config)`` this run evaluates (its pin, else the
    model's current version: a fine-tuned version is ranked by the next run), or a string
    saying why there is none. None for other platforms."""
    if item.get("platform") != "drgero":
        return None
    # own_models imports leaderboards, which imports runs.records: bound at call time.
    from drgero.own_models.registry import version_to_evaluate

    pinned = item.get("pinned_version")
    found = version_to_evaluate(table, run["workspace_id"], (item.get("config") or {}).get("model_id", ""), pinned)
    if found is None:
        what = f"version {pinned} of its Dr.Gero model" if pinned is not None else "its Dr.Gero model"
        return f"Model {item['id']}: {what} no longer exists."
    return found


def handle_run_message(settings: Settings, clients: AwsClients, message: RunMessage) -> dict[str, Any]:
    table = clients.table
    run_id = message.run_id
    if run_id is None:
        try:
            run_id = start_run(
                settings, clients, message.workspace_id, message.leaderboard_id, None, message.source, enqueue=False
            )["id"]
        except ApiError as exc:
            if message.source == "schedule" and exc.code in PAYER_GONE:
                return _refuse_scheduled_run(settings, clients, message, exc)
            # A scheduled run that cannot start (another run active, < 2 models, no data, the
            # leaderboard deleted) is skipped, not retried: the next occurrence tries again.
            logger.warning("scheduled run skipped", extra={"code": exc.code, "reason": exc.message})
            return {"status": "skipped", "code": exc.code}
    run = records.get_run(table, run_id)
    if run is None or run["workspace_id"] != message.workspace_id or run["leaderboard_id"] != message.leaderboard_id:
        logger.warning("run message for an unknown run", extra={"run_id": run_id})
        return {"status": "unknown_run"}
    if run["status"] == records.QUEUED:
        run = _snapshot(settings, clients, table, run)
    if run["status"] not in (records.RUNNING, records.CANCELLING):
        return {"status": run["status"], "run_id": run_id}
    _fan_out(settings, clients, table, run)
    return {"status": "fanned_out", "run_id": run_id, "shards": run.get("shards_total")}


# The token paying for a scheduled run cannot: the run fails visibly and the schedule pauses
# (a paused schedule cannot fail again every hour, and a person must decide who pays).
PAYER_GONE = frozenset({"token_revoked", "token_expired", "budget_exhausted"})


def _refuse_scheduled_run(settings: Settings, clients: AwsClients, message: RunMessage, exc: ApiError) -> dict:
    from drgero.runs.schedules import sync_leaderboard_schedule

    table = clients.table
    leaderboard = table.get(*leaderboard_key(message.workspace_id, message.leaderboard_id))
    if leaderboard is None:
        return {"status": "skipped", "code": "not_found"}
    reason = f"{exc.message} The schedule is paused; set it again (PATCH the leaderboard's schedule) to resume."
    run = record_failed_run(table, leaderboard, "schedule", records.run_error(exc.code, reason, "start"))
    schedule = dict(leaderboard.get("schedule") or {})
    if schedule.get("enabled", True):
        schedule.update(enabled=False)
        updated = table.update(
            *leaderboard_key(message.workspace_id, message.leaderboard_id),
            "SET #s = :s, schedule_paused = :p",
            {"#s": "schedule"},
            {":s": schedule, ":p": {"at": clock.iso_millis(), "code": exc.code, "run_id": run["id"]}},
        )
        sync_leaderboard_schedule(settings, clients, updated)
    logger.warning("scheduled run refused; schedule paused", extra={"code": exc.code, "run_id": run["id"]})
    return {"status": "failed", "code": exc.code, "run_id": run["id"]}


def _snapshot(settings: Settings, clients: AwsClients, table: MetadataTable, run: dict[str, Any]) -> dict[str, Any]:
    leaderboard = table.get(*leaderboard_key(run["workspace_id"], run["leaderboard_id"]))
    if leaderboard is None:
        return _fail(table, run, "The leaderboard was deleted before the run started.")
    model_snapshots = []
    for model_id in run["model_ids"]:
        item = table.get(*candidate_key(run["leaderboard_id"], model_id))
        if item is None:
            return _fail(table, run, f"Model {model_id} was removed before the run started.")
        evaluated = _evaluated_version(table, run, item)
        if isinstance(evaluated, str):
            return _fail(table, run, evaluated)
        model_snapshots.append(model_snapshot(item, evaluated))
    try:
        dataset = pinned_dataset(table, leaderboard)
    except ApiError as exc:
        return _fail(table, run, exc.message)
    lines = read_lines(clients.s3, settings.aws.bucket_name, dataset)
    dataset["rows"] = len(lines)
    shard_size = settings.evaluation.shard_size
    shards = plan_shards(run["id"], run["model_ids"], len(lines), shard_size)
    updated = records.transition(
        table,
        run["id"],
        (records.QUEUED,),
        records.RUNNING,
        {
            "leaderboard_config": leaderboard_snapshot(leaderboard),
            "model_configs": model_snapshots,
            "dataset": dataset,
            "rows": len(lines),
            "shard_size": shard_size,
            "shards_total": len(shards),
            "running_at": clock.iso_millis(),
        },
    )
    current = updated or records.get_run(table, run["id"]) or run
    if current["status"] not in (records.RUNNING, records.CANCELLING):
        return current
    if not shards:  # cannot happen with the dataset_empty check, but never leave a run hanging
        from drgero.runs.completion import maybe_finish

        maybe_finish(settings, clients, run["id"])
        return records.get_run(table, run["id"]) or current
    return current


def _fail(table: MetadataTable, run: dict[str, Any], reason: str) -> dict[str, Any]:
    logger.warning("run failed at fan-out", extra={"run_id": run["id"], "reason": reason})
    error = records.run_error("setup_failed", reason, records.STEP_FAN_OUT)
    updated = records.transition(
        table, run["id"], (records.QUEUED,), records.FAILED, {"error": error, "finished_at": clock.iso_millis()}
    )
    records.release_active_marker(table, run)
    close_run_charge(table, run)
    return updated or records.get_run(table, run["id"]) or run


def _fan_out(settings: Settings, clients: AwsClients, table: MetadataTable, run: dict[str, Any]) -> None:
    bucket = settings.aws.bucket_name
    lines = read_lines(clients.s3, bucket, run["dataset"])[: int(run["rows"])]
    shards = plan_shards(run["id"], run["model_ids"], int(run["rows"]), int(run["shard_size"]))
    snapshot = {
        k: run.get(k) for k in ("id", "leaderboard_id", "source", "leaderboard_config", "model_configs", "dataset")
    }
    clients.s3.put_object(
        Bucket=bucket,
        Key=run_snapshot_object(run["id"]),
        Body=json.dumps(snapshot, ensure_ascii=False, default=str).encode(),
        ContentType="application/json",
    )
    first_of_index: dict[int, Any] = {}
    for shard in shards:
        first_of_index.setdefault(shard.shard_index, shard)

    def write_rows(shard: Any) -> None:
        body = b"".join(line + b"\n" for line in lines[shard.row_start : shard.row_end])
        clients.s3.put_object(Bucket=bucket, Key=run_rows_object(run["id"], shard.shard_index), Body=body)

    def write_shard(shard: Any) -> None:
        pk, sk = shard_key(run["id"], shard.shard_id)
        try:
            table.put(
                {
                    "pk": pk,
                    "sk": sk,
                    "shard_id": shard.shard_id,
                    "model_id": shard.model_id,
                    "shard_index": shard.shard_index,
                    "row_start": shard.row_start,
                    "row_end": shard.row_end,
                    "state": records.SHARD_PENDING,
                },
                # A redelivered fan-out must not reset a shard a worker already counted.
                condition=Condition("attribute_not_exists(pk)"),
            )
        except ClientError as exc:
            if not is_conditional_failure(exc):
                raise

    # Row files before shard items (a work item is only sent after both); each write is one
    # independent request, so they go out concurrently: a 10,000-row x 8-model run has 3,200
    # shard items, ~16 s one after another at ~5 ms a request. Any failure raises and the
    # fan-out message is redelivered; every write is idempotent.
    workers = settings.runs.fanout_write_concurrency
    _each(write_rows, list(first_of_index.values()), workers)
    _each(write_shard, shards, workers)
    bodies = [
        json.dumps(
            {
                "run_id": run["id"],
                "workspace_id": run["workspace_id"],
                "leaderboard_id": run["leaderboard_id"],
                "model_id": s.model_id,
                "shard_id": s.shard_id,
                "shard_index": s.shard_index,
                "shard_count": s.shard_count,
                "row_start": s.row_start,
                "row_end": s.row_end,
            }
        )
        for s in shards
    ]
    send_batches(clients.sqs, settings.aws.evaluate_queue_url, bodies)


def _each(write: Any, items: list[Any], workers: int) -> None:
    """``write(item)`` for every item, ``workers`` at a time; the first error raises (after the
    writes in flight finish)."""
    if workers <= 1 or len(items) <= 1:
        for item in items:
            write(item)
        return
    with ThreadPoolExecutor(max_workers=min(workers, len(items)), thread_name_prefix="fanout") as pool:
        list(pool.map(write, items))  # consumed, so the first error raises here


def send_batches(sqs: Any, queue_url: str, bodies: list[str]) -> None:
    """SendMessageBatch in tens; entries SQS rejects are retried, then raise (the fan-out
    message is redelivered and sends again: duplicates are harmless, losses are not)."""
    size = queues.MAX_BATCH_ENTRIES
    for start in range(0, len(bodies), size):
        pending = queues.send_batch(sqs, queue_url, bodies[start : start + size], attempts=3)
        if pending:
            raise RuntimeError(f"{len(pending)} work item(s) could not be queued")
