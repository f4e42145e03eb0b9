"""What the dataset routes read: a PUSH leaderboard's dataset record, pending rows and status.

The status (``GET /v1/leaderboard/{id}/dataset/status``) gathers the dataset record, today's
and this month's push counters, the newest batch records and the leaderboard's dataset tokens;
the download URL is a presigned S3 URL of the current version (docs/datasets.md).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from drgero.core.aws import AwsClients
from drgero.core.errors import ApiError
from drgero.core.settings import Settings
from drgero.identity.credentials import list_dataset_tokens
from drgero.leaderboards.leaderboard import get_leaderboard
from drgero.store.keys import BATCH_PREFIX, dataset_key, day_counter_sk, leaderboard_pk, month_counter_sk
from drgero.store.table import MetadataTable

RECENT_BATCHES = 20
DOWNLOAD_URL_SECONDS = 3600


def push_leaderboard(table: MetadataTable, workspace_id: str, leaderboard_id: str) -> dict[str, Any]:
    """The leaderboard through the caller's workspace (404), which must be PUSH-mode (409)."""
    leaderboard = get_leaderboard(table, workspace_id, leaderboard_id)
    if leaderboard.get("dataset_mode") != "PUSH":
        raise ApiError(
            409,
            "not_push_dataset",
            "This leaderboard reads its dataset from Hugging Face (GET mode); push routes do not apply.",
        )
    return leaderboard


def dataset_record(table: MetadataTable, leaderboard_id: str) -> dict[str, Any]:
    """The PUSH dataset record (``{}`` before the first push)."""
    return table.get(*dataset_key(leaderboard_id)) or {}


def pending_rows(record: dict[str, Any]) -> int:
    return max(0, int(record.get("accepted_rows") or 0) - int(record.get("consumed_rows") or 0))


def dataset_status(
    settings: Settings, clients: AwsClients, table: MetadataTable, leaderboard: dict[str, Any]
) -> dict[str, Any]:
    lb = leaderboard["id"]
    record = dataset_record(table, lb)
    now = datetime.now(UTC)
    today = table.get(leaderboard_pk(lb), day_counter_sk(now)) or {}
    month = table.get(leaderboard_pk(lb), month_counter_sk(now)) or {}
    accepted = int(record.get("accepted_rows") or 0)
    pending = pending_rows(record)
    version = int(record.get("version") or 0)
    uri = url = None
    if version and record.get("s3_key"):
        uri = f"s3://{settings.aws.bucket_name}/{record['s3_key']}"
        url = clients.s3.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": settings.aws.bucket_name,
                "Key": record["s3_key"],
                "VersionId": record["s3_version_id"],
            },
            ExpiresIn=DOWNLOAD_URL_SECONDS,
        )
    config = leaderboard["dataset"]
    limits = settings.limits
    batches, _ = table.query(leaderboard_pk(lb), BATCH_PREFIX, forward=False, limit=5 * RECENT_BATCHES)
    batches.sort(key=lambda b: int(b.get("received_ms") or 0), reverse=True)
    return {
        "accepted": accepted,
        "pending": pending,
        "consolidated": int(record.get("rows") or 0),
        # Rows of pending batches quarantined because their object was missing or unreadable.
        "failed": int(record.get("failed_rows") or 0),
        "dataset": {
            "version": version,
            "rows": int(record.get("rows") or 0),
            "uri": uri,
            "url": url,
            "updated_at": record.get("updated_at"),
        },
        "limits": {
            "auto_limit": config.get("auto_limit", True),
            "max_samples": config.get("max_samples"),
            "daily_limit": config.get("daily_limit"),
            "monthly_limit": config.get("monthly_limit"),
            "consolidate_every_events": config.get("consolidate_every_events"),
            "consolidate_every_hours": config.get("consolidate_every_hours"),
            "end_date": config.get("end_date"),
            "max_body_bytes": limits.push_max_body_bytes,
            "max_row_bytes": limits.push_max_row_bytes,
            "max_rows_per_request": limits.push_max_rows_per_request,
            "accepted_today": int(today.get("accepted") or 0),
            "accepted_this_month": int(month.get("accepted") or 0),
            # Consolidated rows needed before models can be attached (the dashboard says it).
            "min_rows_before_models": limits.min_rows_before_models,
        },
        "tokens": [
            {k: t[k] for k in ("id", "name", "prefix", "last4", "created_at")} for t in list_dataset_tokens(table, lb)
        ],
        "recent_batches": [_batch_view(b) for b in batches[:RECENT_BATCHES]],
    }


def _batch_view(batch: dict[str, Any]) -> dict[str, Any]:
    view = {k: batch[k] for k in ("batch_id", "rows", "received_at", "state")}
    if batch.get("state") == "failed":
        view["reason"] = batch.get("failed_reason")
        view["failed_at"] = batch.get("failed_at")
    return view
