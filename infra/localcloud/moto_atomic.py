"""AWS's per-request atomicity, given to moto: one request at a time per data service.

In AWS every DynamoDB request is atomic and isolated: a conditional write or a
``TransactWriteItems`` either applies whole or not at all, and no other request sees it half
done. moto handles requests on many threads (its server is threaded, and in-process tests
call it from theirs) without any locking, and its ``transact_write_items`` backs up whole
tables with ``copy.deepcopy`` and restores them on failure. Under concurrency that loses
other requests' writes (the restore puts back a table copied before they landed), lets a
transaction that should fail partly apply, and answers 500 when a table changes size while
it is being copied. The product is correct only on a store that keeps AWS's promises, so
the embedded AWS keeps them, once, here — not with locks or retries in the domain or in tests.

:func:`install` wraps moto's DynamoDB request handler in a process-wide lock (every
DynamoDB request is serializable, as in AWS) and moto's S3 object and bucket handlers in
another (S3's conditional writes, ``If-None-Match: *`` among them, are check-then-write in
moto). Reads of S3 objects take the lock too: moto streams object bodies from the same
structures writers replace. SQS is not locked: its long polls would hold the lock for up to
20 s, and moto's SQS keeps its own per-queue locks.

Under that lock a transaction needs no whole-table backup either: :func:`install` also makes
moto's ``transact_write_items`` back up only the items it touches (and put exactly those back
when it is cancelled), so its cost no longer grows with the table (moto deep-copies every
table a transaction names, O(table) per request).

It also counts the requests that may have changed state (:func:`changes`: every request but
reads), so the local cloud's state saver skips its snapshot while nothing changed instead of
pickling the whole state every period.

The local cloud's moto server process and the test suite's in-process moto both call it, so
what the tests prove is what ``make local`` does. :func:`quiesced` takes both locks, so the
local cloud's state snapshots (``localcloud.moto_state``) never catch a request half applied.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import threading
import types
from collections.abc import Callable, Iterator
from typing import Any

_installed = False
_install_lock = threading.Lock()
# One lock per data service, process-wide; reentrant because a snapshot may be taken from a
# thread that already holds one.
_DYNAMODB_LOCK = threading.RLock()
_S3_LOCK = threading.RLock()
# Requests served that may have changed state; counted after the request returns (its write is
# done), so a reader that takes the count before a snapshot never records a write it missed.
_changes = 0
_changes_lock = threading.Lock()
_READ_ACTIONS = ("Get", "Describe", "List", "Query", "Scan", "BatchGet", "TransactGet", "Receive")


def changes() -> int:
    """How many possibly-changing requests this process has served (compare two readings)."""
    return _changes


def _counted(method: Callable[..., Any], may_change: Callable[..., bool]) -> Callable[..., Any]:
    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> Any:
        global _changes
        try:
            return method(*args, **kwargs)
        finally:
            if may_change(*args):
                with _changes_lock:
                    _changes += 1

    return call


def _action_may_change(handler: Any, *_: Any) -> bool:
    return not handler._get_action().startswith(_READ_ACTIONS)


def _s3_request_may_change(_handler: Any, request: Any, *_: Any) -> bool:
    return getattr(request, "method", "POST") not in ("GET", "HEAD")


def _serialized(method: Callable[..., Any], lock: threading.RLock) -> Callable[..., Any]:
    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> Any:
        with lock:
            return method(*args, **kwargs)

    call.__wrapped_by_drgero__ = True  # type: ignore[attr-defined]
    return call


def install() -> None:
    """Makes moto's DynamoDB and S3 requests atomic in this process (idempotent)."""
    global _installed
    with _install_lock:
        if _installed:
            return
        from moto.core.responses import BaseResponse
        from moto.dynamodb.responses import DynamoHandler
        from moto.s3.responses import S3Response

        DynamoHandler.call_action = _serialized(DynamoHandler.call_action, _DYNAMODB_LOCK)
        _install_item_backups()
        S3Response.key_response = _counted(_serialized(S3Response.key_response, _S3_LOCK), _s3_request_may_change)
        S3Response.bucket_response = _counted(_serialized(S3Response.bucket_response, _S3_LOCK), _s3_request_may_change)
        # Every JSON/query API (DynamoDB, SQS, KMS, Scheduler, EventBridge) ends in this one.
        BaseResponse.call_action = _counted(BaseResponse.call_action, _action_may_change)
        _installed = True


@contextlib.contextmanager
def quiesced() -> Iterator[None]:
    """Holds DynamoDB and S3 still: no request of theirs runs (or is half done) inside the
    block. Always taken in this order; a request holds at most one, so this cannot deadlock."""
    with _DYNAMODB_LOCK, _S3_LOCK:
        yield


def _install_item_backups() -> None:
    """Replaces moto's whole-table transaction backup with a backup of the touched items.

    moto's ``transact_write_items`` deep-copies each table it names before applying, and on
    failure swaps the copies back. Here the module's ``copy`` is one whose ``deepcopy`` returns
    a Table itself (so moto's "restore" is a no-op) and copies everything else as before, and
    the method is wrapped to snapshot the touched items first and write them back when moto
    raises. Correct only because DynamoDB requests are serialized (above): nothing else
    writes between the snapshot and the restore.
    """
    from moto.dynamodb import models as dynamodb_models
    from moto.dynamodb.models.table import Table

    def deepcopy_but_tables(value: Any, memo: Any = None) -> Any:
        return value if isinstance(value, Table) else copy.deepcopy(value, memo)

    dynamodb_models.copy = types.SimpleNamespace(deepcopy=deepcopy_but_tables, copy=copy.copy)
    backend_class = dynamodb_models.DynamoDBBackend
    original = backend_class.transact_write_items

    @functools.wraps(original)
    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        before = _touched_items(self, transact_items)
        try:
            original(self, transact_items)
        except Exception:  # noqa: BLE001 - any failure: put the touched items back, then re-raise
            for table, key, attributes in before:
                _restore(table, key, attributes)
            raise

    backend_class.transact_write_items = transact_write_items


def _touched_items(backend: Any, transact_items: list[dict[str, Any]]) -> list[tuple[Any, dict, Any]]:
    """(table, key, a deep copy of the item's attributes or None) for each operation."""
    # moto loads only where install() ran (as the imports in install()).
    from moto.dynamodb.exceptions import MockValidationException

    touched = []
    for entry in transact_items:
        _, operation = next(iter(entry.items()))
        name = operation.get("TableName")
        if name not in backend.tables:
            continue  # moto raises for it itself, before writing anything
        table = backend.tables[name]
        if "Key" in operation:
            key = operation["Key"]
        else:
            item = operation.get("Item", {})
            key = {table.hash_key_attr: item.get(table.hash_key_attr)}
            if table.range_key_attr is not None:
                key[table.range_key_attr] = item.get(table.range_key_attr)
        try:
            current = backend.get_item(name, key)
        except MockValidationException:  # an invalid key: moto refuses the whole request before writing
            continue
        touched.append((table, key, copy.deepcopy(current.to_json()["Attributes"]) if current else None))
    return touched


def _restore(table: Any, key: dict[str, Any], attributes: dict[str, Any] | None) -> None:
    from moto.dynamodb.models.dynamo_type import DynamoType

    if attributes is not None:
        table.put_item(attributes)
        return
    hash_value = DynamoType(key[table.hash_key_attr])
    range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr is not None else None
    if table.get_item(hash_value, range_value) is not None:
        table.delete_item(hash_value, range_value)
