"""Lists traces: one Query on the listing partition of the filters, newest first.

Pagination is keyset pagination: the cursor is the sort key (``{created_at}#{id}``) of the
last trace returned, base64url-encoded. The next page is "older than the cursor" within the
same time range, so a cursor stays valid while new traces arrive, and a forged cursor can at
most move inside the caller's own workspace partition (the partition always comes from the
principal and the filters, never from the cursor).
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from drgero.core import clock
from drgero.core.errors import bad_request
from drgero.store import keys
from drgero.store.table import MetadataTable, deserialize, serialize
from drgero.traces.model import TraceKind

_CURSOR_SORT_KEY = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z#tr_[0-9a-z]{26}$")
_LOWEST = "0"  # sorts before every timestamp
_HIGHEST = "9"  # sorts after every timestamp (years < 9000)


@dataclass(frozen=True)
class TraceQuery:
    workspace_id: str
    leaderboard_id: str | None = None
    kind: TraceKind | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive
    limit: int = 50
    cursor: str | None = None


@dataclass(frozen=True)
class TracePage:
    traces: list[dict[str, Any]]
    next_cursor: str | None


def encode_cursor(sort_key: str) -> str:
    return base64.urlsafe_b64encode(sort_key.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    """The sort key inside a cursor; 400 ``invalid_cursor`` for anything we did not issue."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        sort_key = base64.urlsafe_b64decode(padded.encode("ascii")).decode("ascii")
    except (binascii.Error, UnicodeError, ValueError) as error:
        raise bad_request("The cursor is not valid.", code="invalid_cursor") from error
    if not _CURSOR_SORT_KEY.match(sort_key):
        raise bad_request("The cursor is not valid.", code="invalid_cursor")
    return sort_key


def list_traces(table: MetadataTable, query: TraceQuery) -> TracePage:
    partition = keys.trace_listing_pk(
        query.workspace_id, query.leaderboard_id, query.kind.value if query.kind else None
    )
    low = keys.sortable_time(query.since) if query.since else _LOWEST
    # "{until}" sorts before every "{until}#id": traces at exactly `until` are excluded.
    high = keys.sortable_time(query.until) if query.until else _HIGHEST
    after = None
    if query.cursor:
        after = decode_cursor(query.cursor)
        high = min(high, after)
    if low > high:
        return TracePage([], None)

    # BETWEEN is inclusive, so the cursor's own item may come back first: ask for one more
    # and drop it. One extra item beyond that tells whether another page exists, so the last
    # page has no cursor.
    request: dict[str, Any] = {
        "TableName": table.name,
        "KeyConditionExpression": "#pk = :pk AND #sk BETWEEN :low AND :high",
        "ExpressionAttributeNames": {"#pk": "pk", "#sk": "sk"},
        "ExpressionAttributeValues": serialize({":pk": partition, ":low": low, ":high": high}),
        "ScanIndexForward": False,
        "Limit": query.limit + (2 if after else 1),
    }
    response = table.client.query(**request)
    items = [deserialize(i) for i in response.get("Items", [])]
    items = [item for item in items if item["sk"] != after]

    page = items[: query.limit]
    has_more = len(items) > query.limit or bool(response.get("LastEvaluatedKey") and page)
    next_cursor = encode_cursor(page[-1]["sk"]) if has_more and page else None
    now = clock.now().timestamp()
    # Index items past their TTL can linger up to a couple of days before DynamoDB deletes
    # them; their objects may already be gone, so they are not shown.
    visible = [item["t"] for item in page if item.get("expires_at", now + 1) > now]
    return TracePage(visible, next_cursor)
