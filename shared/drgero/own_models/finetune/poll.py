"""Moving active jobs on from their backend's view: the sweeper's ``fine_tune_poll`` job, and
:func:`apply`, which brings one job record in line with one backend read."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from drgero.core import clock
from drgero.core.aws import AwsClients
from drgero.core.errors import ApiError
from drgero.core.settings import Settings
from drgero.own_models.finetune.backend import (
    BackendError,
    BackendFactory,
    BackendJob,
    default_backend,
    with_backend_key,
)
from drgero.own_models.finetune.completion import complete
from drgero.own_models.finetune.endings import finish
from drgero.own_models.finetune.records import CANCELLED, FAILED, SUCCEEDED, TERMINAL
from drgero.own_models.finetune.start import start
from drgero.store.keys import FINE_TUNE_ACTIVE_INDEX_PK
from drgero.store.table import Condition, MetadataTable, is_conditional_failure

logger = logging.getLogger("drgero.own_models.finetune")


def apply(
    table: MetadataTable, settings: Settings, clients: AwsClients, item: dict[str, Any], job: BackendJob
) -> dict[str, Any]:
    """Brings the job record in line with the backend's view of it."""
    if job.status == SUCCEEDED:
        return complete(table, settings, clients, item, job)
    if job.status == FAILED:
        return finish(
            table,
            settings,
            clients,
            item,
            FAILED,
            backend_job=job,
            error=job.error or "The fine-tuning backend reported a failure without a message.",
        )
    if job.status == CANCELLED:
        return finish(table, settings, clients, item, CANCELLED, backend_job=job)
    if job.status == item.get("backend_status"):
        return item
    try:
        return table.update(
            item["pk"],
            item["sk"],
            "SET #st = :st, #bs = :st, #u = :u",
            {"#st": "status", "#bs": "backend_status", "#u": "updated_at"},
            {":st": job.status, ":u": clock.iso(), ":a": SUCCEEDED, ":b": FAILED, ":c": CANCELLED},
            condition=Condition("attribute_exists(pk) AND NOT #st IN (:a, :b, :c)"),
        )
    except ClientError as exc:
        if not is_conditional_failure(exc):
            raise
        return table.get(item["pk"], item["sk"]) or item


def poll_jobs(
    settings: Settings,
    clients: AwsClients,
    *,
    backend_factory: BackendFactory = default_backend,
    now: datetime | None = None,
) -> dict[str, int]:
    """The sweeper's ``fine_tune_poll`` job: every active job, once. One job's trouble is
    logged and counted, never allowed to stop the others."""
    table = clients.table
    now = now or clock.now()
    counts = {"polled": 0, "resumed": 0, "succeeded": 0, "failed": 0, "cancelled": 0, "errors": 0}
    entries, _ = table.query(FINE_TUNE_ACTIVE_INDEX_PK, index="gsi1", limit=settings.fine_tune.poll_max_jobs)
    if not entries:
        return counts
    settings = with_backend_key(settings, clients)
    backend = backend_factory(settings)
    try:
        for entry in entries:
            item = table.get(entry["pk"], entry["sk"])
            if not item or item.get("status") in TERMINAL:
                continue
            try:
                if not item.get("backend_job_id"):
                    age = (now - clock.parse_iso(item["updated_at"])).total_seconds()
                    if age >= settings.fine_tune.resume_after_seconds:
                        counts["resumed"] += 1
                        item = start(table, settings, clients, item, backend_factory=backend_factory)
                    continue
                counts["polled"] += 1
                item = apply(table, settings, clients, item, backend.get_job(item["backend_job_id"]))
            except (BackendError, ApiError, ClientError) as exc:
                # A backend hiccup, a model that keeps changing, an AWS error on this job's
                # items: retried next sweep; the other jobs go on.
                counts["errors"] += 1
                logger.warning("fine-tune poll failed", extra={"job_id": item["id"], "error": str(exc)})
                continue
            if item.get("status") in TERMINAL:
                counts[item["status"]] += 1
    finally:
        backend.close()
    return counts
