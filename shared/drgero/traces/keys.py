"""Where a trace lives: its S3 object key and its metadata-table items (docs/data-model.md).

- the object ``traces/{yyyy}/{mm}/{dd}/{trace_id}.json`` holds the whole trace;
- the anchor item ``TRACE#{id}`` / ``TRACE`` says which workspace owns it and where the object
  is (lookup by id, tenant check, and the idempotency guard of the writer);
- listing items, one per filter combination, sort by ``{created_at}#{id}`` so each filter is
  one Query, newest first, with a time range:
  ``TRACES#{ws}``, ``TRACES#{ws}#KIND#{kind}``, ``TRACES#{ws}#LB#{lb}``,
  ``TRACES#{ws}#LB#{lb}#KIND#{kind}``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from drgero.traces.model import Trace

ANCHOR_SK = "TRACE"
# Fixed width, so string order is time order.
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(_TIME_FORMAT)


def object_key(trace: Trace) -> str:
    return f"traces/{trace.created_at:%Y/%m/%d}/{trace.id}.json"


def anchor_pk(trace_id: str) -> str:
    return f"TRACE#{trace_id}"


def sort_key(trace: Trace) -> str:
    return f"{format_time(trace.created_at)}#{trace.id}"


def listing_partition(workspace_id: str, leaderboard_id: str | None = None, kind: str | None = None) -> str:
    pk = f"TRACES#{workspace_id}"
    if leaderboard_id:
        pk += f"#LB#{leaderboard_id}"
    if kind:
        pk += f"#KIND#{kind}"
    return pk


def listing_partitions(trace: Trace) -> list[str]:
    """Every listing partition a trace appears in (2 without a leaderboard, 4 with one)."""
    ws, kind = trace.workspace_id, trace.kind.value
    partitions = [listing_partition(ws), listing_partition(ws, kind=kind)]
    if trace.leaderboard_id:
        partitions += [
            listing_partition(ws, trace.leaderboard_id),
            listing_partition(ws, trace.leaderboard_id, kind),
        ]
    return partitions
