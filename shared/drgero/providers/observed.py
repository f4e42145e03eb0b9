"""Our own observed latency of OpenRouter models, from the workspace's inference traces.

Auto-select reports p95 "observed" when we have it (docs/providers.md); a leaderboard's first
run is estimated from the p50/p95 (drgero.runs.estimates). Source: the trace
listing partition ``TRACES#{ws}#KIND#inference`` (docs/traces.md), newest first, within
``providers.observed_latency_window_hours`` and at most ``observed_latency_max_traces``
entries (one bounded Query, paged). A trace counts for OpenRouter model ``author/slug`` when
it succeeded, has a ``duration_ms`` (our full call latency), its ``model.platform`` is
``openrouter`` and its model is that id: ``model.id`` is the candidate id (``mdl_…``),
mapped to the OpenRouter id through the workspace's attached candidates; a ``model.id`` or
``model.name`` that is itself an OpenRouter id is taken as is.

Percentiles are nearest-rank; p95 needs ``observed_latency_min_samples`` traces, p99 needs
at least 100 (below that, the "99th percentile" is just the maximum of a few calls).
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta
from typing import Any

from drgero.core import clock
from drgero.core.settings import Settings
from drgero.leaderboards.leaderboard import list_leaderboards
from drgero.providers.autoselect import ObservedLatency, ObservedLookup
from drgero.store import keys
from drgero.store.table import MetadataTable, deserialize

MIN_SAMPLES_P99 = 100
_OPENROUTER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]*/[A-Za-z0-9][A-Za-z0-9._\-]*(:[A-Za-z0-9._\-]+)?$")


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending, non-empty list."""
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


def _candidate_map(table: MetadataTable, workspace_id: str) -> dict[str, str]:
    """Candidate model id -> OpenRouter model id, over the workspace's leaderboards."""
    mapping: dict[str, str] = {}
    for leaderboard in list_leaderboards(table, workspace_id):
        for item in table.query_all(keys.leaderboard_pk(leaderboard["id"]), keys.CANDIDATE_PREFIX):
            if item.get("platform") == "openrouter" and (item.get("config") or {}).get("model"):
                mapping[item["id"]] = item["config"]["model"]
    return mapping


def _openrouter_id(model: dict[str, Any], candidates: dict[str, str]) -> str | None:
    model_id, name = model.get("id"), model.get("name")
    if isinstance(model_id, str) and model_id in candidates:
        return candidates[model_id]
    for value in (model_id, name):
        if isinstance(value, str) and _OPENROUTER_ID.match(value):
            return value
    return None


def observed_latencies(
    table: MetadataTable, settings: Settings, workspace_id: str, now: datetime | None = None
) -> dict[str, ObservedLatency]:
    """OpenRouter model id -> our observed latency (only models with enough traces)."""
    providers = settings.providers
    now = now or clock.now()
    low = keys.sortable_time(now - timedelta(hours=providers.observed_latency_window_hours))
    partition = keys.trace_listing_pk(workspace_id, kind="inference")
    durations: dict[str, list[float]] = {}
    candidates: dict[str, str] | None = None
    seen = 0
    start = None
    while seen < providers.observed_latency_max_traces:
        request: dict[str, Any] = {
            "TableName": table.name,
            "KeyConditionExpression": "#pk = :pk AND #sk >= :low",
            "ExpressionAttributeNames": {"#pk": "pk", "#sk": "sk"},
            "ExpressionAttributeValues": {":pk": {"S": partition}, ":low": {"S": low}},
            "ScanIndexForward": False,
            "Limit": min(1000, providers.observed_latency_max_traces - seen),
        }
        if start:
            request["ExclusiveStartKey"] = start
        response = table.client.query(**request)
        for raw in response.get("Items", []):
            seen += 1
            entry = deserialize(raw)
            if entry.get("expires_at", math.inf) <= now.timestamp():
                continue  # past its TTL, not yet deleted by DynamoDB
            summary = entry.get("t") or {}
            model, duration = summary.get("model") or {}, summary.get("duration_ms")
            if summary.get("status", "ok") != "ok" or model.get("platform") != "openrouter":
                continue
            if not isinstance(duration, int | float) or isinstance(duration, bool) or duration < 0:
                continue
            if candidates is None:
                candidates = _candidate_map(table, workspace_id)  # only when there is something to map
            openrouter_id = _openrouter_id(model, candidates)
            if openrouter_id:
                durations.setdefault(openrouter_id, []).append(float(duration))
        start = response.get("LastEvaluatedKey")
        if not start:
            break
    observed: dict[str, ObservedLatency] = {}
    for model_id, values in durations.items():
        if len(values) < providers.observed_latency_min_samples:
            continue
        values.sort()
        observed[model_id] = ObservedLatency(
            p50_ms=round(percentile(values, 0.5), 1),
            p95_ms=round(percentile(values, 0.95), 1),
            p99_ms=round(percentile(values, 0.99), 1) if len(values) >= MIN_SAMPLES_P99 else None,
            samples=len(values),
        )
    return observed


def observed_lookup(
    table: MetadataTable, settings: Settings, workspace_id: str, now: datetime | None = None
) -> ObservedLookup:
    """The ``observed`` callable auto-select takes (one pass over the traces, then lookups)."""
    observed = observed_latencies(table, settings, workspace_id, now)

    def lookup(model_id: str) -> ObservedLatency | None:
        return observed.get(model_id) or observed.get(model_id.split(":", 1)[0])

    return lookup
