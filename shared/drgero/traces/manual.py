"""Manual events: a trace a person or script records with ``POST /api/traces``.

The route stores it synchronously (``TraceStore.write``), so the caller can read it back
with ``GET /api/traces/{id}`` right after the 201. The kind is always ``manual`` and the id
and workspace are the server's, never the caller's.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ConfigDict, Field, field_validator

from drgero.core import clock
from drgero.core.errors import bad_request, not_found
from drgero.core.idempotency import key_reused
from drgero.core.validation import TextModel
from drgero.store import keys
from drgero.traces.model import REF_ID_PATTERN, ModelInfo, Trace, TraceKind, TraceStatus, Usage, check_depth
from drgero.traces.redaction import KEEP_ALL, RedactionPolicy, redact
from drgero.traces.store import TraceStore

# A manual event may be back-dated (recording something that happened earlier), but not
# into the future beyond clock skew.
_MAX_CLOCK_SKEW = timedelta(minutes=5)


class ManualTraceIn(TextModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "prompt v2 deployed",
                    "input": "old prompt",
                    "output": "new prompt",
                    "metadata": {"ticket": "OPS-12", "author": "ana"},
                }
            ]
        },
    )

    name: str = Field(min_length=1, max_length=200)
    leaderboard_id: str | None = Field(default=None, pattern=REF_ID_PATTERN)
    status: TraceStatus = TraceStatus.OK
    error: str | None = Field(default=None, max_length=2000)
    input: Any = None
    output: Any = None
    model: ModelInfo | None = None
    usage: Usage | None = None
    cost_usd: float | None = Field(default=None, ge=0)
    duration_ms: float | None = Field(default=None, ge=0)
    metadata: dict[str, Any] = Field(default_factory=dict)
    parent_id: str | None = Field(default=None, pattern=REF_ID_PATTERN)
    run_id: str | None = Field(default=None, pattern=REF_ID_PATTERN)
    created_at: datetime | None = None

    @field_validator("input", "output", "metadata")
    @classmethod
    def _not_too_deep(cls, value: Any) -> Any:
        check_depth(value)
        return value

    @field_validator("created_at")
    @classmethod
    def _not_in_future(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        if value > clock.now() + _MAX_CLOCK_SKEW:
            raise ValueError("created_at is in the future")
        return value


def leaderboard_policy(store: TraceStore, workspace_id: str, leaderboard_id: str) -> RedactionPolicy:
    """The redaction policy of a leaderboard of this workspace; 404 if there is none.

    Reads the leaderboard item by its documented key (docs/data-model.md: ``WS#{ws}`` /
    ``LB#{lb}``), so another workspace's leaderboard is simply not found.
    """
    leaderboard = store.table.get(*keys.leaderboard_key(workspace_id, leaderboard_id))
    if leaderboard is None:
        raise not_found("Leaderboard")
    return RedactionPolicy.of_leaderboard(leaderboard)


def idempotent_trace_id(workspace_id: str, idempotency_key: str) -> str:
    """The trace id a request with this ``Idempotency-Key`` gets: the same for every retry,
    different per workspace (the key is the caller's; the workspace is ours)."""
    digest = hashlib.sha256(f"{workspace_id}\n{idempotency_key}".encode()).digest()
    return "tr_" + base64.b32encode(digest).decode("ascii").lower()[:26]


def record_manual_trace(
    store: TraceStore,
    workspace_id: str,
    event: ManualTraceIn,
    retention_days: int,
    idempotency_key: str | None = None,
    request_hash: str = "",
) -> Trace:
    """Stores a manual event and returns it. With an ``idempotency_key``, a retry of the same
    request returns the trace stored the first time (nothing is recorded twice), and the same
    key with a different body is 422 ``idempotency_key_reused``."""
    if event.created_at and event.created_at < clock.now() - timedelta(days=retention_days):
        raise bad_request(f"created_at is older than the trace retention ({retention_days} days).")
    policy = leaderboard_policy(store, workspace_id, event.leaderboard_id) if event.leaderboard_id else KEEP_ALL
    fields = event.model_dump(exclude_none=True, exclude={"created_at"})
    if event.created_at:
        fields["created_at"] = event.created_at
    if idempotency_key:
        fields["id"] = idempotent_trace_id(workspace_id, idempotency_key)
    trace = redact(Trace(workspace_id=workspace_id, kind=TraceKind.MANUAL, **fields), policy)
    if store.write(trace, {"request_hash": request_hash} if idempotency_key else None) or not idempotency_key:
        return trace
    anchor = store.table.get(*keys.trace_anchor_key(trace.id)) or {}
    if anchor.get("request_hash") != request_hash:
        raise key_reused()
    return store.get(workspace_id, trace.id)
