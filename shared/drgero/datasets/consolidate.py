"""Consolidation: merge a PUSH leaderboard's pending batches into a new immutable dataset version.

Steps, in this order (each ``_step(...)`` name is a point where tests inject a crash):

1. ``lease``: take the leaderboard's lease (``LB#{lb}`` / ``LEASE#consolidate``, a conditional
   put that succeeds when there is none or it has expired). One consolidation at a time.
2. ``finish_previous``: if the current version's batches are not all marked consumed yet (a
   crash between steps 6 and 7 last time), mark them now, from that version's manifest.
3. ``list``: the pending batch records, oldest first (sparse index ``LB#{lb}#PENDING``, each
   re-read with a consistent read so a stale index entry is never merged twice).
4. ``merge``: stream the current version then every batch, in order, into a local spool file
   (leaving out rows someone deleted: :mod:`drgero.datasets.erasure`)
   while keeping only ``{hash(row id): position of its newest occurrence}`` in memory; then
   stream the spool once more and write each id's newest row, the newest ``max_samples`` of
   them, gzip-compressed. Memory holds ids, never rows twice.
5. ``upload``: put ``datasets/{lb}/v{n+1}.jsonl.gz`` and its manifest (the batch ids it
   includes). The bucket is versioned: the pointer records the exact object version, so an
   object overwritten by a slow, superseded attempt is never the one served.
6. ``pointer``: ONE transaction moves the dataset record from version n to n+1 (condition:
   still at n, and the lease is still ours), adds the included rows to ``consumed_rows`` and
   writes the ``DSVER#{n+1}`` record. This is the commit point.
7. ``mark``: mark the included batches consumed (conditional per batch, idempotent), then
   record ``marked_version``; delete their pending objects (best effort).
8. ``release``: delete the lease.

A pending batch whose object is missing or unreadable (deleted by hand, truncated, not JSON
lines, fewer rows than its record counted) never wedges consolidation: it is quarantined during
the merge, in ONE conditional transaction that moves its record ``pending`` -> ``failed`` with
the reason (shown in the status route's ``recent_batches``), takes it out of the pending index,
and adds its rows to the dataset record's ``consumed_rows`` (they left ``pending``) and
``failed_rows``. The other batches consolidate; the result lists the quarantined batches, so
the caller traces them and counts them in the ``BatchesQuarantined`` metric (an alarm-worthy
figure). Batches are read whole (a push request is at most ``limits.push_max_body_bytes``) so
a bad one is found before any of its rows reach the spool.

A crash before 6 leaves version n current and every batch pending: the next attempt redoes the
merge. A crash after 6 leaves version n+1 current, and step 2 of the next attempt finishes the
marking. No row is lost (a batch is only consumed once a committed version includes it) and
none is counted twice (``consumed_rows`` moves only in the commit, exactly once per version).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import logging
import struct
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import IO, Any

from botocore.exceptions import ClientError

from drgero.core.aws import AwsClients
from drgero.core.clock import iso
from drgero.core.clock import now as utc_now
from drgero.core.settings import Settings
from drgero.datasets.erasure import deleted_hashes
from drgero.datasets.s3io import upload_stream
from drgero.store.keys import (
    LEASE_SK,
    batch_key,
    dataset_key,
    leaderboard_key,
    leaderboard_pk,
    lease_key,
    manifest_object_key,
    pending_index_pk,
    pending_object_key,
    version_object_key,
    version_sk,
)
from drgero.store.table import Condition, deserialize, is_conditional_failure, serialize

logger = logging.getLogger(__name__)

CONSUMED_RECORD_DAYS = 7  # consumed batch records stay listed in the status this long
_SPOOL_HEADER = struct.Struct(">16sI")  # row-id digest, line length


class InjectedFault(RuntimeError):
    """Raised by tests at a named step to simulate a crash there."""


@dataclass
class ConsolidationResult:
    status: str  # consolidated | nothing_pending | busy | not_push_dataset
    version: int = 0
    rows: int = 0
    batches: int = 0
    rows_in: int = 0  # pending rows merged by this run
    duplicates_dropped: int = 0
    trimmed_to_max_samples: int = 0
    rows_deleted: int = 0  # rows dropped because someone deleted them (drgero.datasets.erasure)
    pending: int = 0
    more_pending: bool = False
    quarantined: list[dict[str, Any]] = field(default_factory=list)  # [{"batch_id", "rows", "reason"}]

    def body(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Merged:
    rows: int = 0
    rows_in: int = 0
    duplicates: int = 0
    trimmed: int = 0
    deleted: int = 0
    spool_bytes: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def _row_key(line: bytes) -> bytes:
    """16-byte digest of the row's id (every normalized line has one)."""
    row_id = json.loads(line)["id"]
    return hashlib.blake2b(row_id.encode("utf-8"), digest_size=16).digest()


def _blanked(line: bytes) -> bool:
    """A pending line a row deletion blanked (normalized rows never have a top-level "deleted")."""
    return line.startswith(b'{"id": "deleted-') and json.loads(line).get("deleted") is True


class Consolidator:
    def __init__(
        self,
        settings: Settings,
        clients: AwsClients,
        clock: Callable[[], datetime] | None = None,
        fault: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.clients = clients
        self.table = clients.table
        self.bucket = settings.aws.bucket_name
        self._clock = clock or utc_now
        self._fault = fault

    def _step(self, name: str) -> None:
        if self._fault is not None:
            self._fault(name)

    # ------------------------------------------------------------------ the whole job
    def consolidate(self, workspace_id: str, leaderboard_id: str) -> ConsolidationResult:
        leaderboard = self.table.get(*leaderboard_key(workspace_id, leaderboard_id))
        if not leaderboard or leaderboard.get("dataset_mode") != "PUSH":
            return ConsolidationResult(status="not_push_dataset")
        owner = uuid.uuid4().hex
        if not self._acquire_lease(leaderboard_id, owner):
            return ConsolidationResult(status="busy", pending=self._pending(leaderboard_id))
        self._step("lease")
        try:
            return self._run(leaderboard, owner)
        finally:
            self._release_lease(leaderboard_id, owner)

    def _run(self, leaderboard: dict[str, Any], owner: str) -> ConsolidationResult:
        lb = leaderboard["id"]
        record = self.table.get(*dataset_key(lb))
        if record is None:
            return ConsolidationResult(status="not_push_dataset")
        self._finish_previous(lb, record)
        self._step("finish_previous")

        batches, more = self._pending_batches(lb)
        self._step("list")
        version = int(record.get("version") or 0)
        quarantined: list[dict[str, Any]] = []
        deletions = int(record.get("deletions_pending") or 0)
        if not batches and not deletions:
            return ConsolidationResult(
                status="nothing_pending", version=version, rows=int(record.get("rows") or 0),
                pending=self._pending(lb),
            )  # fmt: skip

        config = leaderboard["dataset"]
        cap = self.settings.limits.dataset_max_rows
        if config.get("auto_limit", True) and config.get("max_samples"):
            cap = min(cap, int(config["max_samples"]))
        with (
            tempfile.TemporaryFile(prefix="drgero-spool-") as spool,
            tempfile.TemporaryFile(prefix="drgero-out-") as out,
        ):
            merged = self._merge(lb, record, batches, cap, spool, out, quarantined)
            self._step("merge")
            bad = {q["batch_id"] for q in quarantined}
            batches = [b for b in batches if b["batch_id"] not in bad]
            if not batches and not deletions:
                return ConsolidationResult(
                    status="nothing_pending", version=version, rows=int(record.get("rows") or 0),
                    pending=self._pending(lb), quarantined=quarantined,
                )  # fmt: skip
            new_version = version + 1
            data_key = version_object_key(lb, new_version)
            data_version_id = self._upload(data_key, out, "application/gzip")
        manifest_key = manifest_object_key(lb, new_version)
        manifest = json.dumps({"version": new_version, "batches": [b["batch_id"] for b in batches]}).encode()
        manifest_version_id = self._upload(manifest_key, io.BytesIO(manifest), "application/json")
        self._step("upload")

        now = iso(self._clock())
        pk, sk = dataset_key(lb)
        version_condition = (
            Condition("version = :v", values={":v": version})
            if version
            else Condition("attribute_not_exists(version) OR version = :v", values={":v": 0})
        )
        self.table.transact(
            [
                {
                    "update": (pk, sk),
                    "expression": (
                        "SET version = :nv, #rows = :rows, s3_key = :key, s3_version_id = :kv, "
                        "manifest_key = :mk, manifest_version_id = :mv, updated_at = :now, "
                        "last_consolidated_at = :now ADD consumed_rows :k, deletions_pending :d"
                    ),
                    "names": {"#rows": "rows"},
                    "values": {
                        ":nv": new_version,
                        ":rows": merged.rows,
                        ":key": data_key,
                        ":kv": data_version_id,
                        ":mk": manifest_key,
                        ":mv": manifest_version_id,
                        ":now": now,
                        # The rows the push transactions counted for these batches (== rows read).
                        ":k": sum(int(b["rows"]) for b in batches),
                        # Only the deletions this merge saw (drgero.datasets.erasure).
                        ":d": -deletions,
                    },
                    "condition": version_condition,
                },
                {
                    "put": {
                        "pk": pk,
                        "sk": version_sk(new_version),
                        "version": new_version,
                        "rows": merged.rows,
                        "rows_in": merged.rows_in,
                        "batches": len(batches),
                        "duplicates_dropped": merged.duplicates,
                        "trimmed_to_max_samples": merged.trimmed,
                        "rows_deleted": merged.deleted,
                        "s3_key": data_key,
                        "s3_version_id": data_version_id,
                        "created_at": now,
                    },
                    "condition": Condition("attribute_not_exists(pk)"),
                },
                {
                    "check": (pk, LEASE_SK),
                    "condition": Condition("lease_owner = :o", values={":o": owner}),
                },
            ]
        )
        self._step("pointer")

        self._mark_consumed(lb, [b["batch_id"] for b in batches], new_version)
        self._step("mark")
        return ConsolidationResult(
            status="consolidated",
            version=new_version,
            rows=merged.rows,
            batches=len(batches),
            rows_in=merged.rows_in,
            duplicates_dropped=merged.duplicates,
            trimmed_to_max_samples=merged.trimmed,
            rows_deleted=merged.deleted,
            pending=self._pending(lb),
            more_pending=more,
            quarantined=quarantined,
        )

    # ------------------------------------------------------------------ lease
    def _acquire_lease(self, lb: str, owner: str) -> bool:
        now = int(self._clock().timestamp())
        until = now + self.settings.limits.consolidate_lease_seconds
        try:
            self.table.put(
                {
                    "pk": leaderboard_pk(lb),
                    "sk": LEASE_SK,
                    "lease_owner": owner,
                    "lease_until": until,
                    "expires_at": until + 86_400,  # TTL cleans up a lease its holder never released
                },
                condition=Condition("attribute_not_exists(pk) OR lease_until < :now", values={":now": now}),
            )
        except ClientError as exc:
            if is_conditional_failure(exc):
                return False
            raise
        return True

    def _release_lease(self, lb: str, owner: str) -> None:
        try:
            self.table.delete(*lease_key(lb), condition=Condition("lease_owner = :o", values={":o": owner}))
        except ClientError as exc:
            if not is_conditional_failure(exc):
                raise
            # Not ours any more (it expired and another attempt took it): nothing to release.

    # ------------------------------------------------------------------ batches
    def _finish_previous(self, lb: str, record: dict[str, Any]) -> None:
        version = int(record.get("version") or 0)
        if not version or int(record.get("marked_version") or 0) >= version or not record.get("manifest_key"):
            return
        body = self.clients.s3.get_object(
            Bucket=self.bucket, Key=record["manifest_key"], VersionId=record["manifest_version_id"]
        )["Body"].read()
        self._mark_consumed(lb, json.loads(body)["batches"], version)

    def _pending_batches(self, lb: str) -> tuple[list[dict[str, Any]], bool]:
        """Pending batch records, oldest first, at most consolidate_max_batches_per_run; and
        whether more remain. Index entries are re-read consistently: the index may lag."""
        limit = self.settings.limits.consolidate_max_batches_per_run
        candidates: list[str] = []
        more = False
        for entry in self.table.query_all(pending_index_pk(lb), index="gsi1"):
            if len(candidates) >= limit:
                more = True
                break
            candidates.append(entry["sk"])
        records = self._get_many(leaderboard_pk(lb), candidates)
        batches = [r for r in records if r.get("state") == "pending"]
        batches.sort(key=lambda r: (int(r["received_ms"]), r["batch_id"]))
        return batches, more

    def _get_many(self, pk: str, sks: list[str]) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for start in range(0, len(sks), 100):
            keys = [serialize({"pk": pk, "sk": sk}) for sk in sks[start : start + 100]]
            request: dict[str, Any] = {self.table.name: {"Keys": keys, "ConsistentRead": True}}
            while request:
                response = self.table.client.batch_get_item(RequestItems=request)
                found.extend(deserialize(i) for i in response.get("Responses", {}).get(self.table.name, []))
                request = response.get("UnprocessedKeys") or {}
        return found

    def _mark_consumed(self, lb: str, batch_ids: list[str], version: int) -> None:
        expires = int((self._clock() + timedelta(days=CONSUMED_RECORD_DAYS)).timestamp())
        for batch_id in batch_ids:
            try:
                self.table.update(
                    *batch_key(lb, batch_id),
                    "SET #s = :c, consumed_version = :v, expires_at = :e REMOVE gsi1pk, gsi1sk",
                    names={"#s": "state"},
                    values={":c": "consumed", ":v": version, ":e": expires, ":p": "pending"},
                    condition=Condition("#s = :p"),
                    return_values="NONE",
                )
            except ClientError as exc:
                if not is_conditional_failure(exc):
                    raise
                # Already consumed (a previous attempt got this far): nothing to do.
        try:
            self.table.update(
                *dataset_key(lb),
                "SET marked_version = :v",
                values={":v": version},
                condition=Condition("attribute_not_exists(marked_version) OR marked_version < :v"),
                return_values="NONE",
            )
        except ClientError as exc:
            if not is_conditional_failure(exc):
                raise
        # Every included batch's object, also those marked by an attempt that crashed before
        # deleting them (deleting a missing key is a no-op).
        self._delete_objects([pending_object_key(lb, batch_id) for batch_id in batch_ids])

    def _delete_objects(self, keys: list[str]) -> None:
        """Consumed pending objects are deleted (their versions expire by lifecycle rule)."""
        for start in range(0, len(keys), 1000):
            chunk = keys[start : start + 1000]
            self.clients.s3.delete_objects(
                Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in chunk], "Quiet": True}
            )

    # ------------------------------------------------------------------ merge
    def _sources(
        self, lb: str, record: dict[str, Any], batches: list[dict[str, Any]], quarantined: list[dict[str, Any]]
    ) -> Iterator[tuple[bool, bytes]]:
        """(is_pending, line) for every row: the current version first, then each readable batch
        in order (an unreadable one is quarantined and skipped)."""
        if int(record.get("version") or 0) and record.get("s3_key"):
            body = self.clients.s3.get_object(
                Bucket=self.bucket, Key=record["s3_key"], VersionId=record["s3_version_id"]
            )["Body"]
            with gzip.GzipFile(fileobj=body) as stream:
                for line in stream:
                    if line.strip():
                        yield False, line.rstrip(b"\n")
        for batch in batches:
            lines, reason = self._batch_lines(batch)
            if reason is not None:
                self._quarantine(lb, batch, reason)
                quarantined.append({"batch_id": batch["batch_id"], "rows": int(batch["rows"]), "reason": reason})
                continue
            for line in lines:
                yield True, line

    def _batch_lines(self, batch: dict[str, Any]) -> tuple[list[bytes], str | None]:
        """A pending batch's rows, or the reason it cannot be read."""
        try:
            body = self.clients.s3.get_object(Bucket=self.bucket, Key=batch["s3_key"])["Body"].read()
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in ("NoSuchKey", "404", "NoSuchVersion"):
                return [], "the pending object is missing"
            raise  # throttling, access: a retry can succeed, so the message is retried
        lines = [line for line in body.split(b"\n") if line.strip()]
        for number, line in enumerate(lines, start=1):
            try:
                row = json.loads(line)
            except ValueError:
                return [], f"line {number} of the pending object is not JSON"
            if not isinstance(row, dict) or not isinstance(row.get("id"), str):
                return [], f"line {number} of the pending object is not a normalized row"
        if len(lines) != int(batch["rows"]):
            return [], f"the pending object holds {len(lines)} rows; the batch record counted {batch['rows']}"
        return lines, None

    def _quarantine(self, lb: str, batch: dict[str, Any], reason: str) -> None:
        """``pending`` -> ``failed`` once (conditional), with its rows out of ``pending``."""
        rows = int(batch["rows"])
        try:
            self.table.transact(
                [
                    {
                        "update": batch_key(lb, batch["batch_id"]),
                        "expression": "SET #s = :f, failed_reason = :r, failed_at = :now REMOVE gsi1pk, gsi1sk",
                        "names": {"#s": "state"},
                        "values": {":f": "failed", ":r": reason, ":now": iso(self._clock()), ":p": "pending"},
                        "condition": Condition("#s = :p"),
                    },
                    {
                        "update": dataset_key(lb),
                        "expression": "ADD consumed_rows :n, failed_rows :n",
                        "values": {":n": rows},
                    },
                ]
            )
        except ClientError as exc:
            if not is_conditional_failure(exc):
                raise
            return  # already quarantined (or consumed) by an earlier attempt
        logger.warning(
            "pending batch quarantined",
            extra={"leaderboard_id": lb, "batch_id": batch["batch_id"], "rows": rows,
                   "reason": reason},
        )  # fmt: skip

    def _merge(
        self,
        lb: str,
        record: dict[str, Any],
        batches: list[dict[str, Any]],
        cap: int,
        spool: IO[bytes],
        out: IO[bytes],
        quarantined: list[dict[str, Any]],
    ) -> _Merged:
        merged = _Merged()
        newest: dict[bytes, int] = {}
        position = 0
        pack = _SPOOL_HEADER.pack
        write = spool.write
        deleted = deleted_hashes(self.table, lb)
        for is_pending, line in self._sources(lb, record, batches, quarantined):
            key = _row_key(line)
            if key in deleted or _blanked(line):
                merged.deleted += 1  # a deleted row, or a pending line blanked by its deletion
                continue
            newest[key] = position
            write(pack(key, len(line)))
            write(line)
            position += 1
            if is_pending:
                merged.rows_in += 1
        unique = len(newest)
        merged.duplicates = position - unique
        threshold = 0
        if unique > cap:
            threshold = sorted(newest.values())[unique - cap]
            merged.trimmed = unique - cap
        spool.seek(0)
        read = spool.read
        header_size = _SPOOL_HEADER.size
        unpack = _SPOOL_HEADER.unpack
        with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=6) as gz:
            for current in range(position):
                key, length = unpack(read(header_size))
                line = read(length)
                if current >= threshold and newest[key] == current:
                    gz.write(line)
                    gz.write(b"\n")
                    merged.rows += 1
        out.seek(0)
        return merged

    def _upload(self, key: str, stream: IO[bytes], content_type: str) -> str:
        return upload_stream(self.clients.s3, self.bucket, key, stream, content_type)

    # ------------------------------------------------------------------ counts
    def _pending(self, lb: str) -> int:
        record = self.table.get(*dataset_key(lb)) or {}
        return max(0, int(record.get("accepted_rows") or 0) - int(record.get("consumed_rows") or 0))
