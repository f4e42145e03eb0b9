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

The local cloud's moto server process and the test suite's in-process moto both call it, so
what the tests prove is what ``make local`` does. :func:`quiesced` takes both locks, so the
local cloud's state snapshots (``localcloud.moto_state``) never catch a request half applied.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Iterator
from typing import Any

_installed = False
_install_lock = threading.Lock()
# One lock per data service, process-wide; reentrant because a snapshot may be taken from a
# thread that already holds one.
_DYNAMODB_LOCK = threading.RLock()
_S3_LOCK = threading.RLock()


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
        from moto.dynamodb.responses import DynamoHandler
        from moto.s3.responses import S3Response

        DynamoHandler.call_action = _serialized(DynamoHandler.call_action, _DYNAMODB_LOCK)
        S3Response.key_response = _serialized(S3Response.key_response, _S3_LOCK)
        S3Response.bucket_response = _serialized(S3Response.bucket_response, _S3_LOCK)
        _installed = True


@contextlib.contextmanager
def quiesced() -> Iterator[None]:
    """Holds DynamoDB and S3 still: no request of theirs runs (or is half done) inside the
    block. Always taken in this order; a request holds at most one, so this cannot deadlock."""
    with _DYNAMODB_LOCK, _S3_LOCK:
        yield
