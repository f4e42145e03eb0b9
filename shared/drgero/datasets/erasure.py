"""A PUSH dataset's rows for people: a paged preview, and deleting rows (they may hold personal data).

Items: ``LB#{lb}`` / ``DELROW#{hash}`` — one tombstone per deleted row id (``hash`` = the
16-byte blake2b digest :mod:`drgero.datasets.consolidate` keys rows by, hex). The dataset
record's ``deletions_pending`` counts tombstones no committed version has applied yet.

Deleting a row, in this order:

1. its tombstone is put (conditional: a second delete of the same id changes nothing) in one
   transaction with ``ADD deletions_pending 1``;
2. every pending batch object that holds the id is rewritten with that line replaced by a
   blank ``{"id": "deleted-{hash}", "deleted": true}`` line (the line count stays what the batch record counted,
   so consolidation does not quarantine the batch), and the object's previous S3 version is
   deleted (the bucket is versioned: the text must not survive as an old version).

Consolidation loads the tombstones before it merges and drops their ids from the current version
and from every batch, so the next version has none of them; it also runs when only
``deletions_pending`` is set (nothing pending), so a deleted consolidated row leaves the dataset at
the next consolidation ("consolidate now" or the schedule). Tombstones stay: the same id pushed
again later is dropped too (push it under a new id). A consolidation that read the tombstones
before step 1 may still write the row into its version; ``deletions_pending`` then stays above
zero (the commit subtracts only what it read), so the next consolidation removes it.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterator
from typing import Any

from botocore.exceptions import ClientError

from drgero.core.aws import AwsClients
from drgero.core.clock import iso
from drgero.core.clock import now as utc_now
from drgero.core.settings import Settings
from drgero.store.keys import (
    DELETED_ROW_PREFIX,
    batch_key,
    dataset_key,
    deleted_row_key,
    leaderboard_pk,
    pending_index_pk,
)
from drgero.store.table import Condition, MetadataTable, is_conditional_failure


def row_hash(row_id: str) -> str:
    """The same digest consolidation keys rows by (``consolidate._row_key``), as hex."""
    return hashlib.blake2b(row_id.encode("utf-8"), digest_size=16).hexdigest()


def deleted_hashes(table: MetadataTable, leaderboard_id: str) -> set[bytes]:
    return {
        bytes.fromhex(item["sk"].removeprefix(DELETED_ROW_PREFIX))
        for item in table.query_all(leaderboard_pk(leaderboard_id), DELETED_ROW_PREFIX)
    }


def _pending_batches(table: MetadataTable, leaderboard_id: str) -> list[dict[str, Any]]:
    """Pending batch records, newest first (re-read: the index may lag)."""
    records = []
    for entry in table.query_all(pending_index_pk(leaderboard_id), index="gsi1"):
        record = table.get(*batch_key(leaderboard_id, entry["sk"].removeprefix("BATCH#")), consistent=True)
        if record and record.get("state") == "pending":
            records.append(record)
    records.sort(key=lambda r: (int(r["received_ms"]), r["batch_id"]), reverse=True)
    return records


# ------------------------------------------------------------------ preview
def _rows(settings: Settings, clients: AwsClients, leaderboard_id: str) -> Iterator[dict[str, Any]]:
    """Pending rows (newest batch first), then the current version's rows."""
    bucket = settings.aws.bucket_name
    for batch in _pending_batches(clients.table, leaderboard_id):
        try:
            body = clients.s3.get_object(Bucket=bucket, Key=batch["s3_key"])["Body"].read()
        except ClientError:
            continue  # missing object: consolidation quarantines the batch and says why
        for line in body.split(b"\n"):
            if line.strip():
                yield {**json.loads(line), "state": "pending", "batch_id": batch["batch_id"]}
    record = clients.table.get(*dataset_key(leaderboard_id)) or {}
    if int(record.get("version") or 0) and record.get("s3_key"):
        body = clients.s3.get_object(Bucket=bucket, Key=record["s3_key"], VersionId=record["s3_version_id"])["Body"]
        with gzip.GzipFile(fileobj=body) as stream:
            for line in stream:
                if line.strip():
                    yield {**json.loads(line), "state": "consolidated", "version": int(record["version"])}


def preview(settings: Settings, clients: AwsClients, leaderboard_id: str, offset: int, limit: int) -> dict[str, Any]:
    """One page of the dataset's rows, deleted ones left out. ``next_cursor``: the next offset."""
    deleted = deleted_hashes(clients.table, leaderboard_id)
    page: list[dict[str, Any]] = []
    position = 0
    more = False
    for row in _rows(settings, clients, leaderboard_id):
        if row.get("deleted") or bytes.fromhex(row_hash(row["id"])) in deleted:
            continue
        if position >= offset:
            if len(page) == limit:
                more = True
                break
            page.append(row)
        position += 1
    return {"rows": page, "next_cursor": str(offset + limit) if more else None}


# ------------------------------------------------------------------ deletion
def delete_rows(settings: Settings, clients: AwsClients, leaderboard_id: str, row_ids: list[str]) -> dict[str, Any]:
    """Tombstones the ids, then blanks them in the pending batch objects (see the module doc)."""
    table = clients.table
    now = iso(utc_now())
    new = 0
    for row_id in dict.fromkeys(row_ids):
        pk, sk = deleted_row_key(leaderboard_id, row_hash(row_id))
        try:
            table.transact(
                [
                    # The id itself is not kept: it may be personal data too.
                    {
                        "put": {"pk": pk, "sk": sk, "deleted_at": now},
                        "condition": Condition("attribute_not_exists(pk)"),
                    },
                    {
                        "update": dataset_key(leaderboard_id),
                        "expression": "ADD deletions_pending :one",
                        "values": {":one": 1},
                    },
                ]
            )
            new += 1
        except ClientError as exc:
            if not is_conditional_failure(exc):
                raise
    rewritten = _blank_pending(settings, clients, leaderboard_id, set(row_ids))
    return {"deleted": new, "already_deleted": len(set(row_ids)) - new, "pending_batches_rewritten": rewritten}


def _blank_pending(settings: Settings, clients: AwsClients, leaderboard_id: str, ids: set[str]) -> int:
    bucket = settings.aws.bucket_name
    rewritten = 0
    for batch in _pending_batches(clients.table, leaderboard_id):
        try:
            got = clients.s3.get_object(Bucket=bucket, Key=batch["s3_key"])
        except ClientError:
            continue
        lines = got["Body"].read().split(b"\n")
        changed = False
        for index, line in enumerate(lines):
            row_id = json.loads(line).get("id") if line.strip() else None
            if row_id in ids:
                # Still a normalized row (the batch's line count and format checks hold), with
                # nothing of the original: not even its id.
                blank = {"id": f"deleted-{row_hash(row_id)}", "input": "", "output": None, "deleted": True}
                lines[index] = json.dumps(blank).encode()
                changed = True
        if not changed:
            continue
        clients.s3.put_object(
            Bucket=bucket, Key=batch["s3_key"], Body=b"\n".join(lines), ContentType="application/jsonl"
        )
        if got.get("VersionId") and got["VersionId"] != "null":
            clients.s3.delete_object(Bucket=bucket, Key=batch["s3_key"], VersionId=got["VersionId"])
        rewritten += 1
    return rewritten
