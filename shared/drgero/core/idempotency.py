"""The ``Idempotency-Key`` header: one validator, and which mechanism each route uses.

A client that retries a POST sends the same ``Idempotency-Key`` so the retry does not act
twice. Every route that accepts the header checks it with :func:`check_key` (1 to
:data:`MAX_KEY_CHARS` printable characters; 400 ``invalid_idempotency_key``). What makes the
retry harmless differs per route, on purpose:

- ``POST /v1/leaderboard/{id}/dataset/push`` (:mod:`drgero.datasets.push`): Powertools
  idempotency with its DynamoDB persistence layer (the idempotency table), keyed by
  (credential, leaderboard, key) and validated by the body's hash. Push runs in its own
  Lambda behind API Gateway, its answer (``accepted``, ``pending``) is computed, not stored
  anywhere else, and an attempt still in flight must answer 409 ``idempotency_in_progress``:
  exactly what the Powertools utility records and replays. Its batch id is also derived from
  the key, so a retry after a crash finds its own S3 object and batch record.
- ``POST /api/leaderboards/{id}/models`` (:mod:`drgero.leaderboards.attach`): the model id is
  derived from (workspace, leaderboard, key); the model item itself is the record (it stores
  the request hash), and its conditional put decides a race between two attempts.
- ``POST /api/traces`` (:mod:`drgero.traces.manual`): the trace id is derived from
  (workspace, key); the trace's anchor item stores the request hash. Same reasoning.
- ``POST /api/models/{id}/fine-tunes`` (:mod:`drgero.own_models.finetune.jobs`): job ids are
  time-ordered (they sort a model's jobs), so the key gets its own item in the metadata table
  (``FTIDEM#…``), written in the job's transaction, replaying the first job for
  ``fine_tune.idempotency_seconds``.

The derived-id routes need no second table and no expiry: the resource is its own record.
Every route answers 422 ``idempotency_key_reused`` when a key comes back with another body.
"""

from __future__ import annotations

from drgero.core.errors import ApiError

MAX_KEY_CHARS = 255


def check_key(key: str | None) -> str | None:
    """``key`` when valid (None: no header, the request is not idempotent); else 400."""
    if key is not None and not (1 <= len(key) <= MAX_KEY_CHARS and key.isprintable()):
        raise ApiError(
            400, "invalid_idempotency_key", f"Idempotency-Key must be 1 to {MAX_KEY_CHARS} printable characters."
        )
    return key


def key_reused() -> ApiError:
    """422: the key was already used with a different request body."""
    return ApiError(
        422, "idempotency_key_reused", "This Idempotency-Key was already used with a different request body."
    )
