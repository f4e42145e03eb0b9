"""The results export as an asynchronous job: GET /api/runs/{id}/results/export answers at once
(docs/runs.md, "Export"), the export worker (functions/export) writes the file.

One job per (run, format, run version), item ``RUN#{run}`` / ``EXPORT#{format}#{version}``:
``version`` is a digest of what the run's results depend on (status, progress, grades), so a
run still running, or graded since, gets a new job and a new file; a finished run's file is
written once and reused until the job expires (``runs.export_keep_days``, the item's TTL; the
bucket expires ``exports/`` later than that).

States: ``pending`` (queued) -> ``running`` (an attempt holds a lease until ``lease_until``)
-> ``ready`` (the file is complete) | ``failed`` (reported, not retried by itself).

- Started exactly once: a conditional put (absent or expired) creates the job; the request
  that loses the race answers from the job the winner wrote. Only the winner sends the message.
- At least once: each attempt claims the job with one conditional update (pending, or running
  with an expired lease) that counts ``attempts``; a duplicate delivery finds the lease held
  (or the job ended) and does nothing. A crash mid-way leaves the lease to expire: the
  redelivered message (or the poll that re-sends it) claims again. S3 shows a multipart object
  only when complete, and a retry writes the whole object again: never a half or mixed file.
- Reported, not wedged: an attempt beyond ``runs.export_max_attempts`` (below the queue's
  maxReceiveCount, so before the DLQ) ends the job ``failed`` with the reason; so does an error
  in the last attempt. A poll that finds the job pending or running past its lease re-sends
  the message (once per ``runs.export_requeue_seconds``), so a lost message cannot stall it.
  ``retry=true`` starts a failed export again.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from drgero.core import clock, queues
from drgero.core.aws import AwsClients
from drgero.core.errors import ApiError
from drgero.core.ids import new_id
from drgero.core.observability import logger
from drgero.core.settings import Settings
from drgero.runs import records
from drgero.runs.messages import ExportMessage
from drgero.store.keys import run_export_key, run_export_object
from drgero.store.table import Condition, MetadataTable, is_conditional_failure

PENDING, RUNNING, READY, FAILED = "pending", "running", "ready", "failed"
FORMATS = ("jsonl", "csv")
# The run fields the results table depends on: any change makes a new export.
_VERSION_FIELDS = ("status", "progress_at", "shards_done", "shards_cancelled", "grades_done", "finished_at")


@dataclass
class ExportAnswer:
    status_code: int  # 200 ready, 202 started or still going
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def run_version(run: dict[str, Any]) -> str:
    """16 hex digits naming the state of the run's results."""
    state = json.dumps([str(run.get(name)) for name in _VERSION_FIELDS])
    return hashlib.sha256(state.encode()).hexdigest()[:16]


def _now() -> float:
    return clock.now().timestamp()


# ---------------------------------------------------------------- the request


def request_export(
    settings: Settings, clients: AwsClients, workspace_id: str, run_id: str, fmt: str, *, retry: bool = False
) -> ExportAnswer:
    """The route's answer: the file (200) when the export of the run as it is now is ready; else
    the job, started when there is none (202). 404 for another workspace's run; 500
    ``export_failed`` when the job failed (``retry``: start it again)."""
    if fmt not in FORMATS:
        raise ApiError(400, "invalid_request", "format must be jsonl or csv.", {"param": "format"})
    table = clients.table
    run = records.get_run_for(table, workspace_id, run_id)
    version = run_version(run)
    key = run_export_key(run["id"], fmt, version)
    job = table.get(*key)
    if job is not None and float(job.get("expires_at") or 0) <= _now():
        job = None  # past its TTL, not yet deleted by DynamoDB: its file may be gone
    if job is None:
        job = _start(settings, clients, run, fmt, version)
    elif job["status"] == FAILED and retry:
        job = _restart(settings, clients, job)
    if job["status"] == READY:
        return ExportAnswer(200, _ready_body(settings, clients, job))
    if job["status"] == FAILED:
        raise ApiError(
            500,
            "export_failed",
            f"The export failed: {job.get('error') or 'unknown error'} Request it again with retry=true.",
            {"status": FAILED, "attempts": int(job.get("attempts") or 0), "run_id": run["id"], "format": fmt},
        )
    _requeue_if_stalled(settings, clients, job)
    wait = settings.runs.export_retry_after_seconds
    return ExportAnswer(
        202,
        {
            "status": job["status"],
            "run_id": run["id"],
            "format": fmt,
            "attempts": int(job.get("attempts") or 0),
            "retry_after_seconds": wait,
            "poll": {"method": "GET", "path": f"/api/runs/{run['id']}/results/export?format={fmt}"},
            "message": "The export is being written. Request the same URL again after retry_after_seconds: "
            "it answers 200 with the download URL when the file is ready.",
        },
        {"Retry-After": str(wait)},
    )


def _ready_body(settings: Settings, clients: AwsClients, job: dict[str, Any]) -> dict[str, Any]:
    url = clients.s3.generate_presigned_url(
        "get_object",
        Params={"Bucket": settings.aws.bucket_name, "Key": job["object_key"]},
        ExpiresIn=settings.runs.export_url_seconds,
    )
    return {
        "status": READY,
        "run_id": job["run_id"],
        "format": job["format"],
        "rows": int(job.get("rows") or 0),
        "bytes": int(job.get("bytes") or 0),
        "url": url,
        "expires_in": settings.runs.export_url_seconds,
        "finished_at": job.get("finished_at"),
    }


def _message(job: dict[str, Any]) -> dict[str, Any]:
    return {k: job[k] for k in ("run_id", "workspace_id", "format", "version")}


def _start(settings: Settings, clients: AwsClients, run: dict[str, Any], fmt: str, version: str) -> dict[str, Any]:
    table, now = clients.table, _now()
    pk, sk = run_export_key(run["id"], fmt, version)
    job = {
        "pk": pk,
        "sk": sk,
        "run_id": run["id"],
        "workspace_id": run["workspace_id"],
        "format": fmt,
        "version": version,
        "status": PENDING,
        "attempts": 0,
        "object_key": run_export_object(run["id"], fmt, version),
        "created_at": clock.iso_millis(),
        "queued_at": now,
        "expires_at": int(now + settings.runs.export_keep_days * 86400),
    }
    try:
        table.put(job, Condition("attribute_not_exists(pk) OR expires_at <= :now", values={":now": int(now)}))
    except ClientError as exc:
        if not is_conditional_failure(exc):
            raise
        current = table.get(pk, sk)  # another request started it first: answer from its job
        if current is None:
            raise
        return current
    _send(settings, clients, job, started=True)
    return job


def _restart(settings: Settings, clients: AwsClients, job: dict[str, Any]) -> dict[str, Any]:
    try:
        updated = clients.table.update(
            job["pk"],
            job["sk"],
            "SET #st = :pending, attempts = :zero, queued_at = :now REMOVE #err, lease_until, attempt_id",
            {"#st": "status", "#err": "error"},
            {":pending": PENDING, ":zero": 0, ":now": _now()},
            Condition("#st = :failed", values={":failed": FAILED}),
        )
    except ClientError as exc:
        if not is_conditional_failure(exc):
            raise
        return clients.table.get(job["pk"], job["sk"]) or job  # another request restarted it
    _send(settings, clients, updated, started=False)
    return updated


def _send(settings: Settings, clients: AwsClients, job: dict[str, Any], *, started: bool) -> None:
    try:
        queues.send(clients.sqs, settings.aws.export_queue_url, _message(job))
    except ClientError as exc:
        logger.error("export not queued", extra={"run_id": job["run_id"], "error": str(exc)})
        if started:  # nothing will ever run this job: remove it, so the next request starts again
            try:
                clients.table.delete(
                    job["pk"], job["sk"], Condition("#st = :pending AND attempts = :zero", {"#st": "status"},
                                                    {":pending": PENDING, ":zero": 0})
                )  # fmt: skip
            except ClientError as gone:
                if not is_conditional_failure(gone):
                    raise
        raise ApiError(503, "export_not_queued", "The export could not be queued; try again.") from exc


def _requeue_if_stalled(settings: Settings, clients: AwsClients, job: dict[str, Any]) -> None:
    """A pending job queued long ago (its message lost, or its last attempt failed and waits for
    SQS's visibility timeout), or a running one past its lease (the worker crashed): send the
    message again, once per ``runs.export_requeue_seconds`` (a conditional update decides who)."""
    now = _now()
    queued_at = float(job.get("queued_at") or 0)
    stalled = job["status"] == PENDING or float(job.get("lease_until") or 0) <= now
    if not stalled or now - queued_at < settings.runs.export_requeue_seconds:
        return
    try:
        clients.table.update(
            job["pk"],
            job["sk"],
            "SET queued_at = :now",
            values={":now": now},
            condition=Condition("queued_at = :was", values={":was": job.get("queued_at")}),
        )
    except ClientError as exc:
        if is_conditional_failure(exc):
            return  # another poll re-sent it
        raise
    logger.info("export re-queued", extra={"run_id": job["run_id"], "status": job["status"]})
    queues.send(clients.sqs, settings.aws.export_queue_url, _message(job))


# ---------------------------------------------------------------- the worker


def handle_export_message(settings: Settings, clients: AwsClients, message: ExportMessage) -> dict[str, Any]:
    """One delivery of an export message: claims the job, writes the file, marks it ready.
    Returns what happened; raises (the message is redelivered) only for an error of an attempt
    that is not the last."""
    from drgero.runs.export import write_export  # Cold start: only the worker writes files

    table = clients.table
    key = run_export_key(message.run_id, message.format, message.version)
    job = table.get(*key)
    if job is None or job["workspace_id"] != message.workspace_id:
        logger.warning("export message for an unknown job", extra={"run_id": message.run_id})
        return {"status": "unknown_export"}
    if job["status"] in (READY, FAILED):
        return {"status": job["status"], "duplicate": True}
    attempt = new_id("exa")
    job = _claim(settings, table, key, attempt)
    if job is None:
        return {"status": "busy"}  # another delivery holds the lease, or the job just ended
    limit = settings.runs.export_max_attempts
    if int(job["attempts"]) > limit:
        reason = f"{limit} attempts stopped before the end (a crash or a timeout)."
        _end(table, key, attempt, FAILED, {"error": reason})
        return {"status": FAILED, "attempts": limit}
    run = records.get_run(table, message.run_id)
    if run is None or run["workspace_id"] != message.workspace_id:
        _end(table, key, attempt, FAILED, {"error": "The run no longer exists."})
        return {"status": FAILED, "reason": "run_gone"}
    try:
        rows, size = write_export(settings, clients, run, message.format, job["object_key"])
    except Exception as exc:
        logger.exception("export attempt failed", extra={"run_id": message.run_id, "attempt": job["attempts"]})
        if int(job["attempts"]) >= limit:
            reason = f"{limit} attempts ended in errors (the last: {type(exc).__name__})."
            _end(table, key, attempt, FAILED, {"error": reason})
            return {"status": FAILED, "attempts": limit}
        # Free the job at once: the redelivered (or re-sent) message claims it without
        # waiting for the lease.
        _end(table, key, attempt, PENDING, {"last_error": type(exc).__name__})
        raise
    ended = _end(table, key, attempt, READY, {"rows": rows, "bytes": size, "finished_at": clock.iso_millis()})
    return {"status": READY if ended else "superseded", "rows": rows, "bytes": size, "run_id": message.run_id}


def _claim(settings: Settings, table: MetadataTable, key: tuple[str, str], attempt: str) -> dict[str, Any] | None:
    now = _now()
    try:
        return table.update(
            *key,
            "SET #st = :running, attempts = attempts + :one, lease_until = :lease, attempt_id = :attempt",
            {"#st": "status"},
            {":running": RUNNING, ":one": 1, ":lease": now + settings.runs.export_lease_seconds, ":attempt": attempt},
            Condition(
                "#st = :pending OR (#st = :running AND lease_until <= :now)",
                values={":pending": PENDING, ":now": now},
            ),
        )
    except ClientError as exc:
        if is_conditional_failure(exc):
            return None
        raise


def _end(table: MetadataTable, key: tuple[str, str], attempt: str, status: str, extra: dict[str, Any]) -> bool:
    """Ends this attempt (only while it still holds the job); False when another took over."""
    names = {"#st": "status"}
    values: dict[str, Any] = {":to": status, ":attempt": attempt, ":running": RUNNING}
    sets = ["#st = :to"]
    for i, (name, value) in enumerate(extra.items()):
        names[f"#x{i}"], values[f":x{i}"] = name, value
        sets.append(f"#x{i} = :x{i}")
    try:
        table.update(
            *key,
            "SET " + ", ".join(sets) + " REMOVE lease_until, attempt_id",
            names,
            values,
            Condition("#st = :running AND attempt_id = :attempt"),
        )
    except ClientError as exc:
        if is_conditional_failure(exc):
            return False
        raise
    return True
