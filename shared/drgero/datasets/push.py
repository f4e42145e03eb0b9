"""PUSH mode: accept a request of rows for a leaderboard, whole or not at all.

The order of the steps is what makes a crash safe (docs/datasets.md, "Crash safety"):

1. Parse and validate everything (body size, JSON, shape, every row). Nothing is written for a
   request that is refused here.
2. Write the request's rows as ONE pending batch object ``pending/{lb}/{batch_id}.jsonl`` with a
   conditional put (``IfNoneMatch="*"``). The object alone means nothing: consolidation only
   reads batches that have a committed batch record (step 3). A crash after this step leaves
   an orphan object that no one counts; the retry of the same request (same Idempotency-Key)
   uses the same batch id and finds the object already there.
3. ONE DynamoDB transaction: the end-date check on the leaderboard, the daily and monthly
   counters (conditioned on precomputed thresholds: conditions cannot add), the batch record
   ``BATCH#{batch_id}`` (``attribute_not_exists``: the guard against counting a retry twice)
   and the dataset's ``accepted_rows``. Either all of it happens or none of it: a request is
   accepted exactly when this commits, and then its rows are already durable in S3.
4. Read the dataset record for the ``pending`` figure of the answer, and enqueue a
   consolidation when the request crossed the every-N-events threshold. A crash here loses
   nothing: the sweep also enqueues datasets over their threshold.

With an ``Idempotency-Key``, Powertools idempotency (DynamoDB persistence) wraps steps 2-4: a
retry with the same key and body returns the first answer; the same key with another body is
refused (422). The key is scoped to the credential and the leaderboard. (Why push uses the
Powertools utility while other routes derive ids: :mod:`drgero.core.idempotency`.)
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from drgero.core import queues
from drgero.core.aws import AwsClients
from drgero.core.clock import iso
from drgero.core.clock import now as utc_now
from drgero.core.errors import ApiError
from drgero.core.idempotency import check_key
from drgero.core.ids import new_id
from drgero.core.json_depth import check_depth
from drgero.core.settings import Settings
from drgero.datasets.rows import normalize_rows
from drgero.identity.access import require_leaderboard_access
from drgero.identity.principal import Principal, Scope
from drgero.leaderboards.records import get_leaderboard
from drgero.store.keys import (
    batch_key,
    batch_sk,
    dataset_key,
    day_counter_sk,
    leaderboard_key,
    leaderboard_pk,
    month_counter_sk,
    pending_index_pk,
    pending_index_sk,
    pending_object_key,
)
from drgero.store.table import Condition, MetadataTable

BODY_ARRAY_KEYS = ("rows", "events", "samples")


@dataclass
class PushResult:
    accepted: int
    batch_id: str
    pending: int

    def body(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "batch_id": self.batch_id, "pending": self.pending}


# ------------------------------------------------------------------ parsing
def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_body(raw: bytes, settings: Settings) -> list[Any]:
    """The request body as a list of raw rows (any of the contract's three shapes)."""
    limits = settings.limits
    if len(raw) > limits.push_max_body_bytes:
        raise ApiError(
            413,
            "payload_too_large",
            f"The request body is {len(raw)} bytes; the limit is {limits.push_max_body_bytes} bytes "
            "(limits.push_max_body_bytes). Split the rows over several requests.",
            {"limit_bytes": limits.push_max_body_bytes, "size_bytes": len(raw)},
        )
    if not raw.strip():
        raise ApiError(400, "invalid_json", "The request body is empty; send a row, an array of rows or {rows: [...]}.")
    check_depth(raw, settings.api.max_json_depth)
    try:
        document = json.loads(raw, parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ApiError(400, "invalid_json", f"The request body is not valid JSON: {exc}") from exc
    if isinstance(document, list):
        rows = document
    elif isinstance(document, dict):
        container = next((k for k in BODY_ARRAY_KEYS if k in document), None)
        if container is None:
            rows = [document]
        elif isinstance(document[container], list):
            rows = document[container]
        else:
            raise ApiError(400, "invalid_body", f"'{container}' must be an array of row objects.")
    else:
        raise ApiError(
            400,
            "invalid_body",
            "The body must be a row object, an array of rows, or an object with rows/events/samples.",
        )
    if not rows:
        raise ApiError(400, "empty_batch", "The request holds no rows.")
    if len(rows) > limits.push_max_rows_per_request:
        raise ApiError(
            413,
            "too_many_rows",
            f"The request holds {len(rows)} rows; the limit is {limits.push_max_rows_per_request} rows per request "
            "(limits.push_max_rows_per_request). Split the rows over several requests.",
            {"limit_rows": limits.push_max_rows_per_request, "rows": len(rows)},
        )
    return rows


def validate_rows(rows: list[Any], settings: Settings) -> tuple[list[bytes], list[str]]:
    """Normalized JSON lines and ids; 400 ``invalid_rows`` (every bad row) or 413 (oversize rows)."""
    batch = normalize_rows(rows, settings.limits.push_max_row_bytes)
    if batch.errors:
        details = sorted(batch.errors + batch.oversize, key=lambda e: e["index"])
        raise ApiError(
            400, "invalid_rows", f"{len(details)} of {len(rows)} rows are not valid; nothing was accepted.", details
        )
    if batch.oversize:
        limit = settings.limits.push_max_row_bytes
        raise ApiError(
            413,
            "row_too_large",
            f"{len(batch.oversize)} rows are larger than {limit} bytes (limits.push_max_row_bytes); "
            "nothing was accepted.",
            batch.oversize,
        )
    return batch.lines, batch.ids


# ------------------------------------------------------------------ authorization
def authorize_push(principal: Principal, leaderboard_id: str) -> None:
    """The leaderboard's own hpd_ token, or an API token / user with leaderboards:write."""
    require_leaderboard_access(principal, leaderboard_id, Scope.LEADERBOARDS_WRITE, allow_dataset_token=True)


def credential_scope(principal: Principal) -> str:
    """Who the Idempotency-Key belongs to: one key namespace per credential."""
    return f"{principal.kind.value}:{principal.token_id or principal.user_id}"


# ------------------------------------------------------------------ limits
def _next_midnight(now: datetime) -> datetime:
    return datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), tzinfo=UTC)


def _next_month(now: datetime) -> datetime:
    year, month = (now.year + 1, 1) if now.month == 12 else (now.year, now.month + 1)
    return datetime(year, month, 1, tzinfo=UTC)


def _retry_after(until: datetime, now: datetime) -> dict[str, str]:
    return {"Retry-After": str(max(1, int((until - now).total_seconds()) + 1))}


def limit_error(kind: str, limit: int, used: int | None, rows: int, now: datetime) -> ApiError:
    until = _next_midnight(now) if kind == "daily" else _next_month(now)
    period = "today" if kind == "daily" else "this month"
    used_text = f"{used} rows were accepted {period}; " if used is not None else ""
    return ApiError(
        429,
        f"{kind}_limit",
        f"Accepting these {rows} rows would pass the {kind} limit of {limit} rows ({used_text}nothing was accepted).",
        {"limit": limit, "accepted": used, "rows": rows, "resets_at": iso(until)},
        headers=_retry_after(until, now),
    )


def closed_error(end: Any) -> ApiError:
    return ApiError(403, "dataset_closed", f"This dataset stopped accepting rows at its end date ({end}).")


# ------------------------------------------------------------------ accepting
class Pusher:
    """Accepts push requests for the leaderboards of one function instance."""

    def __init__(self, settings: Settings, clients: AwsClients, clock: Any = None) -> None:
        self.settings = settings
        self.clients = clients
        self.table = clients.table
        self._clock = clock or utc_now

    def push(
        self,
        principal: Principal,
        leaderboard_id: str,
        raw_body: bytes,
        idempotency_key: str | None = None,
        lambda_context: Any = None,
    ) -> PushResult:
        authorize_push(principal, leaderboard_id)
        # The leaderboard first: another workspace's (or a missing) one is a 404 whatever the body.
        leaderboard = self._push_leaderboard(principal.workspace_id, leaderboard_id)
        rows = parse_body(raw_body, self.settings)
        lines, _ids = validate_rows(rows, self.settings)
        if idempotency_key is None:
            return self._accept(principal, leaderboard, lines, new_id("b"), idempotent=False)
        return self._accept_idempotent(principal, leaderboard, lines, raw_body, idempotency_key, lambda_context)

    def _push_leaderboard(self, workspace_id: str, leaderboard_id: str) -> dict[str, Any]:
        leaderboard = get_leaderboard(self.table, workspace_id, leaderboard_id)
        if leaderboard.get("dataset_mode") != "PUSH":
            raise ApiError(
                409,
                "not_push_dataset",
                "This leaderboard reads its dataset from Hugging Face (GET mode); it takes no pushes.",
            )
        return leaderboard

    def accept_rows(self, principal: Principal, leaderboard_id: str, rows: list[Any], batch_id: str) -> PushResult:
        """Rows produced by Dr.Gero itself (inference capture, docs/inference.md) through the
        same path as a push: validated, one pending batch, counters and limits. ``batch_id`` is
        derived from the source (e.g. the trace id), so a repeat finds its own batch and
        counts nothing twice. The caller has already authorized the source call."""
        leaderboard = self._push_leaderboard(principal.workspace_id, leaderboard_id)
        lines, _ids = validate_rows(rows, self.settings)
        return self._accept(principal, leaderboard, lines, batch_id, idempotent=True)

    def _accept_idempotent(
        self,
        principal: Principal,
        leaderboard: dict[str, Any],
        lines: list[bytes],
        raw_body: bytes,
        key: str,
        lambda_context: Any,
    ) -> PushResult:
        # Cold start: Powertools idempotency loads only when a push carries an Idempotency-Key
        # (push_ingest function); the other functions that import this module never come here.
        from aws_lambda_powertools.utilities.idempotency import (
            DynamoDBPersistenceLayer,
            IdempotencyConfig,
            idempotent_function,
        )
        from aws_lambda_powertools.utilities.idempotency.exceptions import (  # Cold start: as above.
            IdempotencyAlreadyInProgressError,
            IdempotencyValidationError,
        )

        check_key(key)
        leaderboard_id = leaderboard["id"]
        scope = credential_scope(principal)
        body_sha = hashlib.sha256(raw_body).hexdigest()
        # Same logical request -> same batch id, so a retry after a crash between S3 and the
        # transaction finds its own object and its own batch record (never a second batch).
        batch_id = "b_" + hashlib.sha256(f"{scope}\n{leaderboard_id}\n{key}\n{body_sha}".encode()).hexdigest()[:26]
        config = IdempotencyConfig(
            event_key_jmespath="[scope, leaderboard_id, key]",
            payload_validation_jmespath="body_sha256",
            expires_after_seconds=self.settings.limits.push_idempotency_seconds,
            hash_function="sha256",
        )
        if lambda_context is not None:
            # Bounds how long a crashed attempt blocks its key (in-progress expiry).
            config.register_lambda_context(lambda_context)
        store = DynamoDBPersistenceLayer(
            table_name=self.settings.aws.idempotency_table_name, boto3_client=self.clients.dynamodb
        )

        def accept(request: dict[str, Any]) -> dict[str, Any]:
            return self._accept(principal, leaderboard, lines, batch_id, idempotent=True).body()

        wrapped = idempotent_function(
            accept, data_keyword_argument="request", persistence_store=store, config=config, key_prefix="push"
        )
        request = {"scope": scope, "leaderboard_id": leaderboard_id, "key": key, "body_sha256": body_sha}
        try:
            result = wrapped(request=request)
        except IdempotencyValidationError as exc:
            raise ApiError(
                422,
                "idempotency_key_reused",
                "This Idempotency-Key was already used with a different body; use a new key for a new request.",
            ) from exc
        except IdempotencyAlreadyInProgressError as exc:
            raise ApiError(
                409,
                "idempotency_in_progress",
                "A request with this Idempotency-Key is still being processed; retry shortly.",
                headers={"Retry-After": "1"},
            ) from exc
        return PushResult(result["accepted"], result["batch_id"], result["pending"])

    def _accept(
        self, principal: Principal, leaderboard: dict[str, Any], lines: list[bytes], batch_id: str, idempotent: bool
    ) -> PushResult:
        """Steps 2-4 of the module docstring. ``idempotent``: the batch id is derived from the
        request (an Idempotency-Key), so an earlier attempt may have written or committed it."""
        table = self.table
        workspace_id = principal.workspace_id
        leaderboard_id = leaderboard["id"]
        config = leaderboard["dataset"]
        now = self._clock()
        epoch = int(now.timestamp())
        end_epoch = leaderboard.get("push_end_epoch")
        if end_epoch is not None and epoch > int(end_epoch):
            raise closed_error(config.get("end_date"))
        rows = len(lines)
        daily, monthly = config.get("daily_limit"), config.get("monthly_limit")
        if daily and rows > daily:
            raise limit_error("daily", daily, None, rows, now)
        if monthly and rows > monthly:
            raise limit_error("monthly", monthly, None, rows, now)

        # Step 2: the rows, durable before anything counts them.
        s3_key = pending_object_key(leaderboard_id, batch_id)
        self._put_batch_object(s3_key, lines)

        # Step 3: one transaction decides acceptance.
        lb_pk = leaderboard_pk(leaderboard_id)
        received_at = iso(now)
        received_ms = int(now.timestamp() * 1000)
        operations = [
            {
                "check": leaderboard_key(workspace_id, leaderboard_id),
                "condition": Condition(
                    "attribute_exists(pk) AND (attribute_not_exists(push_end_epoch) OR push_end_epoch >= :now)",
                    values={":now": epoch},
                ),
            },
            self._counter_update(lb_pk, day_counter_sk(now), rows, daily, _next_midnight(now) + timedelta(days=35)),
            self._counter_update(lb_pk, month_counter_sk(now), rows, monthly, _next_month(now) + timedelta(days=400)),
            {
                "put": {
                    "pk": lb_pk,
                    "sk": batch_sk(batch_id),
                    "gsi1pk": pending_index_pk(leaderboard_id),
                    "gsi1sk": pending_index_sk(received_ms, batch_id),
                    "batch_id": batch_id,
                    "state": "pending",
                    "rows": rows,
                    "s3_key": s3_key,
                    "received_at": received_at,
                    "received_ms": received_ms,
                    "credential": credential_scope(principal),
                },
                "condition": Condition("attribute_not_exists(pk)"),
            },
            {
                "update": dataset_key(leaderboard_id),
                "expression": "ADD accepted_rows :n SET last_push_at = :at",
                "values": {":n": rows, ":at": received_at},
                "condition": Condition("attribute_exists(pk)"),
            },
        ]
        try:
            _transact_with_conflict_retry(table, operations)
        except ClientError as exc:
            failed = _failed_conditions(exc)
            if failed is None:
                raise
            if 3 in failed or (idempotent and self._batch_exists(leaderboard_id, batch_id)):
                # The batch record exists: an earlier attempt of this very request committed
                # (its retry may also fail a counter condition because of that commit). Its
                # object is referenced: never discard it.
                return self._replay(leaderboard_id, batch_id)
            self._discard_object(s3_key)
            raise self._refusal(failed, leaderboard_id, config, rows, now) from exc

        # Step 4: the answer's pending figure, and the every-N-events trigger.
        pending = self.pending_rows(leaderboard_id)
        every = config.get("consolidate_every_events")
        if every and pending >= every and pending - rows < every:
            enqueue_consolidation(self.settings, self.clients, workspace_id, leaderboard_id, "events_threshold")
        return PushResult(rows, batch_id, pending)

    @staticmethod
    def _counter_update(pk: str, sk: str, rows: int, limit: int | None, expires: datetime) -> dict[str, Any]:
        operation: dict[str, Any] = {
            "update": (pk, sk),
            "expression": "ADD accepted :n SET expires_at = :ttl",
            "values": {":n": rows, ":ttl": int(expires.timestamp())},
        }
        if limit:
            # "accepted + rows <= limit" written as "accepted <= limit - rows" (conditions cannot add).
            operation["condition"] = Condition(
                "attribute_not_exists(accepted) OR accepted <= :max", values={":max": limit - rows}
            )
        return operation

    def _put_batch_object(self, key: str, lines: list[bytes]) -> None:
        try:
            self.clients.s3.put_object(
                Bucket=self.settings.aws.bucket_name,
                Key=key,
                Body=b"\n".join(lines) + b"\n",
                ContentType="application/x-ndjson",
                IfNoneMatch="*",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in {"PreconditionFailed", "ConditionalRequestConflict"}:
                raise
            # Written by an earlier attempt of this same request (same batch id => same body).

    def _discard_object(self, key: str) -> None:
        """Removes the object of a refused request (it has no batch record, so nothing reads it)."""
        try:
            self.clients.s3.delete_object(Bucket=self.settings.aws.bucket_name, Key=key)
        except (BotoCoreError, ClientError):
            # Harmless leftover: unreferenced pending objects are never consolidated, and the
            # bucket's lifecycle removes their versions.
            return

    def _refusal(self, failed: set[int], leaderboard_id: str, config: dict, rows: int, now: datetime) -> ApiError:
        if 0 in failed:
            return closed_error(config.get("end_date"))
        if 1 in failed or 2 in failed:
            kind = "daily" if 1 in failed else "monthly"
            sk = day_counter_sk(now) if kind == "daily" else month_counter_sk(now)
            counter = self.table.get(leaderboard_pk(leaderboard_id), sk) or {}
            return limit_error(kind, config[f"{kind}_limit"], int(counter.get("accepted") or 0), rows, now)
        return ApiError(409, "not_push_dataset", "This leaderboard has no PUSH dataset record.")

    def _batch_exists(self, leaderboard_id: str, batch_id: str) -> bool:
        return self.table.get(*batch_key(leaderboard_id, batch_id)) is not None

    def _replay(self, leaderboard_id: str, batch_id: str) -> PushResult:
        record = self.table.get(*batch_key(leaderboard_id, batch_id)) or {}
        return PushResult(int(record.get("rows") or 0), batch_id, self.pending_rows(leaderboard_id))

    def pending_rows(self, leaderboard_id: str) -> int:
        record = self.table.get(*dataset_key(leaderboard_id)) or {}
        return max(0, int(record.get("accepted_rows") or 0) - int(record.get("consumed_rows") or 0))


def _transact_with_conflict_retry(table: MetadataTable, operations: list[dict[str, Any]], attempts: int = 6) -> None:
    """DynamoDB cancels a transaction that races another one on the same item
    (``TransactionConflict``); under concurrent pushes to one leaderboard that is expected, so
    retry with jittered backoff. Condition failures are answers, not conflicts: never retried."""
    for attempt in range(attempts):
        try:
            table.transact(operations)
            return
        except ClientError as exc:
            reasons = (exc.response or {}).get("CancellationReasons") or []
            conflict = any(r.get("Code") == "TransactionConflict" for r in reasons)
            if not conflict or _failed_conditions(exc) or attempt == attempts - 1:
                raise
            time.sleep(random.uniform(0, 0.02 * 2**attempt))


def _failed_conditions(exc: Exception) -> set[int] | None:
    """Indexes of the transaction items whose condition failed; None if ``exc`` is another error."""
    response = getattr(exc, "response", None) or {}
    if response.get("Error", {}).get("Code") != "TransactionCanceledException":
        return None
    reasons = response.get("CancellationReasons") or []
    failed = {i for i, reason in enumerate(reasons) if reason.get("Code") == "ConditionalCheckFailed"}
    if not failed:
        return None  # cancelled for another reason (conflict, throttling): let it surface and retry
    return failed


def enqueue_consolidation(
    settings: Settings, clients: AwsClients, workspace_id: str, leaderboard_id: str, reason: str
) -> None:
    """Asks the consolidate function to merge this leaderboard's pending batches."""
    queues.send(
        clients.sqs,
        settings.aws.consolidate_queue_url,
        {"workspace_id": workspace_id, "leaderboard_id": leaderboard_id, "reason": reason, "requested_at": iso()},
    )
