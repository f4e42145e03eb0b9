"""/api/traces: list, read and record traces (docs/traces.md).

Reads need ``traces:read``. Recording a manual event needs ``leaderboards:write`` (the
contract's scope list is fixed and has no ``traces:write``). Every read and write is scoped
to the principal's workspace: another workspace's trace is a 404.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from drgero.api.deps import CurrentClients, CurrentSettings, LeaderboardsWriter, TracesReader, body_limit
from drgero.core.errors import ApiError, bad_request
from drgero.core.idempotency import check_key
from drgero.core.validation import invalid
from drgero.identity.principal import Principal
from drgero.traces import TraceKind, TraceStore, trace_url
from drgero.traces.listing import TraceQuery, list_traces
from drgero.traces.manual import ManualTraceIn, record_manual_trace
from drgero.traces.model import REF_ID_PATTERN, TRACE_ID_PATTERN

router = APIRouter(tags=["traces"])


def _trace_reader(principal: TracesReader) -> Principal:
    # A dependency, so a caller without the scope gets 403 before any query validation.
    return principal


TraceReader = Annotated[Principal, Depends(_trace_reader)]


@router.get("/api/traces", summary="List traces, newest first")
def get_traces(
    principal: TraceReader,
    settings: CurrentSettings,
    clients: CurrentClients,
    leaderboard_id: Annotated[str | None, Query(pattern=REF_ID_PATTERN)] = None,
    kind: TraceKind | None = None,
    since: Annotated[datetime | None, Query(description="ISO 8601, inclusive")] = None,
    until: Annotated[datetime | None, Query(description="ISO 8601, exclusive")] = None,
    cursor: Annotated[str | None, Query(max_length=200, description="next_cursor of the previous page")] = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
) -> dict:
    page_max = settings.limits.traces_page_max
    if limit is not None and limit > page_max:
        raise bad_request(f"limit may be at most {page_max}.", {"field": "limit", "max": page_max})
    since, until = _as_utc(since), _as_utc(until)
    if since and until and since >= until:
        raise bad_request("since must be before until.")
    query = TraceQuery(
        workspace_id=principal.workspace_id,
        leaderboard_id=leaderboard_id,
        kind=kind,
        since=since,
        until=until,
        limit=limit or settings.limits.traces_page_default,
        cursor=cursor,
    )
    page = list_traces(clients.table, query)
    return {"traces": page.traces, "next_cursor": page.next_cursor, "has_more": page.next_cursor is not None}


def _as_utc(moment: datetime | None) -> datetime | None:
    """Times without an offset are UTC (never the server's local time)."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


@router.get("/api/traces/{trace_id}", summary="Read one trace")
def get_trace(trace_id: str, principal: TraceReader, settings: CurrentSettings, clients: CurrentClients) -> dict:
    if not re.match(TRACE_ID_PATTERN, trace_id):
        raise ApiError(404, "not_found", "Trace not found")
    trace = TraceStore.from_clients(settings, clients).get(principal.workspace_id, trace_id)
    return trace.model_dump(mode="json", exclude_none=True)


# The body is read raw (the size limit is checked before parsing), so its schema is declared here
# for the OpenAPI document.
_MANUAL_BODY_DOC = {
    "parameters": [
        {
            "name": "Idempotency-Key",
            "in": "header",
            "required": False,
            "schema": {"type": "string", "maxLength": 255},
            "description": "A retry with the same key and body returns the first trace; a different body is 422.",
        }
    ],
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": ManualTraceIn.model_json_schema()}},
    },
}


@router.post(
    "/api/traces",
    status_code=201,
    summary="Record a manual event as a trace",
    openapi_extra=_MANUAL_BODY_DOC,
    dependencies=[body_limit(lambda settings: settings.limits.trace_max_manual_bytes, "A manual trace")],
)
async def post_trace(
    request: Request, principal: LeaderboardsWriter, settings: CurrentSettings, clients: CurrentClients
) -> dict:
    raw = await request.body()
    try:
        event = ManualTraceIn.model_validate(json.loads(raw))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as error:
        raise bad_request("The body is not valid JSON.", code="invalid_json") from error
    except ValidationError as error:
        raise invalid(error, "The trace is not valid.") from None
    idempotency_key = check_key(request.headers.get("idempotency-key"))
    store = TraceStore.from_clients(settings, clients)
    trace = await run_in_threadpool(
        record_manual_trace,
        store,
        principal.workspace_id,
        event,
        settings.limits.traces_retention_days,
        idempotency_key,
        hashlib.sha256(raw).hexdigest(),
    )
    base = settings.api.public_base_url or str(request.base_url)
    return {
        "id": trace.id,
        "kind": trace.kind.value,
        "created_at": trace.created_at.isoformat(),
        "url": trace_url(settings, base, trace.id),
    }
