"""Stores traces (S3 object + metadata-table index) and reads one back.

Writes are idempotent: the object key and the item keys are derived from the trace id.
The order is the crash-safety argument:

1. the anchor item ``TRACE#{id}`` exists -> already stored, nothing to do;
2. S3 object, conditional (``If-None-Match: *``; 412 means an earlier attempt wrote it);
3. listing items (plain puts of deterministic keys: rewriting them is harmless);
4. the anchor, conditional on not existing: the commit point.

A crash anywhere before 4 leaves no anchor, so the redelivered message redoes 2-4 and the
trace is stored once; a duplicate delivered after 4 stops at 1. No transaction: a trace is
1 conditional put + 2-4 plain puts (about half the write units of TransactWriteItems, which
also makes the embedded moto copy the whole table on every call).
"""

from __future__ import annotations

import random
import time
from datetime import timedelta
from typing import Any

from botocore.exceptions import ClientError

from drgero.core import clock
from drgero.core.errors import not_found
from drgero.store import keys
from drgero.store.table import Condition, MetadataTable, is_conditional_failure, serialize
from drgero.traces.model import Trace
from drgero.traces.scrub import scrub

_BATCH_ATTEMPTS = 5


class TraceStore:
    def __init__(self, s3_client: Any, table: MetadataTable, bucket: str, retention_days: int) -> None:
        self.s3 = s3_client
        self.table = table
        self.bucket = bucket
        self.retention_days = retention_days

    @classmethod
    def from_clients(cls, settings: Any, clients: Any) -> TraceStore:
        return cls(
            clients.s3,
            clients.table,
            settings.aws.bucket_name,
            settings.limits.traces_retention_days,
        )

    # ---- writing
    def write(self, trace: Trace, anchor_extra: dict[str, Any] | None = None) -> bool:
        """Stores the trace (scrubbed). True if stored now, False if it was already stored.
        ``anchor_extra``: attributes kept on the anchor item (e.g. a request hash)."""
        trace = scrub(trace)
        if self.table.get(*keys.trace_anchor_key(trace.id)) is not None:
            return False
        object_key = keys.trace_object_key(trace.id, trace.created_at)
        self._put_object_once(object_key, trace.to_json().encode())
        expires_at = self._expires_at(trace)
        listing = self._listing_items(trace, expires_at)
        self._write_batch([{"PutRequest": {"Item": serialize(item)}} for item in listing])
        try:
            anchor = {**(anchor_extra or {}), **self._anchor(trace, object_key, expires_at)}
            self.table.put(anchor, Condition("attribute_not_exists(pk)"))
        except ClientError as error:
            if not is_conditional_failure(error):
                raise
            # A concurrent write of the same id committed first. Identical deliveries wrote the
            # same listing items; a different version (an Idempotency-Key retry racing the
            # original, with its own created_at) must take back the entries it added.
            committed = self.table.get(*keys.trace_anchor_key(trace.id)) or {}
            if committed.get("created_at") != keys.sortable_time(trace.created_at):
                self._write_batch(
                    [{"DeleteRequest": {"Key": serialize({"pk": i["pk"], "sk": i["sk"]})}} for i in listing]
                )
            return False
        return True

    def _put_object_once(self, key: str, body: bytes) -> None:
        try:
            self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="application/json", IfNoneMatch="*")
        except ClientError as error:
            # 412: an earlier attempt stored the object and crashed before indexing it; the
            # stored object is the same trace, so indexing continues.
            if error.response.get("Error", {}).get("Code") not in ("PreconditionFailed", "412"):
                raise

    def _expires_at(self, trace: Trace) -> int:
        # From created_at, so the index never outlives the S3 object (whose lifecycle counts
        # from the later moment the object was written).
        return int((trace.created_at + timedelta(days=self.retention_days)).timestamp())

    @staticmethod
    def _anchor(trace: Trace, object_key: str, expires_at: int) -> dict[str, Any]:
        return {
            "pk": keys.trace_anchor_key(trace.id)[0],
            "sk": keys.trace_anchor_key(trace.id)[1],
            "type": "trace",
            "workspace_id": trace.workspace_id,
            "s3_key": object_key,
            "created_at": keys.sortable_time(trace.created_at),
            "expires_at": expires_at,
        }

    @staticmethod
    def _listing_items(trace: Trace, expires_at: int) -> list[dict[str, Any]]:
        summary = trace.summary()
        sort_key = keys.trace_listing_sk(trace.created_at, trace.id)
        return [
            {"pk": partition, "sk": sort_key, "type": "trace_index", "t": summary, "expires_at": expires_at}
            for partition in keys.trace_listing_pks(trace.workspace_id, trace.kind.value, trace.leaderboard_id)
        ]

    def _write_batch(self, requests: list[dict[str, Any]]) -> None:
        """One BatchWriteItem (at most 4 requests), retrying what DynamoDB leaves unprocessed."""
        pending = requests
        for attempt in range(_BATCH_ATTEMPTS):
            response = self.table.client.batch_write_item(RequestItems={self.table.name: pending})
            pending = response.get("UnprocessedItems", {}).get(self.table.name, [])
            if not pending:
                return
            time.sleep(min(1.0, 0.05 * 2**attempt) * random.random())  # noqa: S311 - jitter, not crypto
        raise RuntimeError(f"DynamoDB left {len(pending)} trace index item(s) unprocessed; the message will be retried")

    # ---- reading
    def get(self, workspace_id: str, trace_id: str) -> Trace:
        """The trace, if it belongs to ``workspace_id``; 404 otherwise (never reveals others')."""
        anchor = self.table.get(*keys.trace_anchor_key(trace_id))
        if not anchor or anchor.get("workspace_id") != workspace_id or _expired(anchor):
            raise not_found("Trace")
        try:
            response = self.s3.get_object(Bucket=self.bucket, Key=anchor["s3_key"])
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                # Expired by the bucket lifecycle before the index TTL caught up.
                raise not_found("Trace") from error
            raise
        return Trace.model_validate_json(response["Body"].read())


def _expired(item: dict[str, Any]) -> bool:
    expires_at = item.get("expires_at")
    return expires_at is not None and expires_at <= clock.now().timestamp()
