"""Auto-select candidate models from the OpenRouter catalog under constraints.

Constraints: how many; max input/output cost per million tokens; max p95 / p99 latency;
open-source only (the catalog lists a ``hugging_face_id``).

Choice (deterministic, same catalog + same request -> same picks):
1. Drop models that cannot be candidates: no text output, unknown (variable) price,
   ``:free`` variants (heavily rate limited, not meant for production), and models the
   caller excludes (already on the leaderboard).
2. Apply cost and open-source constraints.
3. Order by recency (OpenRouter's ``created``, newest first; ties by id), interleaving
   authors: the newest model of each author first, then each author's second newest, …
   so a pick of N spans up to N different labs instead of N versions of one family.
4. Walk that order; when a latency constraint is set, a model qualifies only if its
   figures are known and within the limits. Stop at ``count``.

Latency figures, and where each comes from (reported per pick):
- p95: our own observed p95 for the model (from traces, injected by the caller) ->
  ``observed``; else estimated from OpenRouter's p90 and p99 by linear interpolation in
  percentile rank, p95 = p90 + (p99 - p90) * 5/9 -> ``estimate_p90_p99``; else ``unknown``.
- p99: observed if the caller has it -> ``observed``; else OpenRouter's -> ``openrouter``.
OpenRouter's figures are time-to-first-token over the last 30 minutes (worst endpoint);
observed ones are our full call latency.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from drgero.core.validation import TextModel
from drgero.providers.catalog import CatalogModel, LatencyStats, OpenRouterCatalog
from drgero.providers.errors import ProviderError
from drgero.providers.types import Pricing

LatencySource = Literal["observed", "openrouter", "estimate_p90_p99", "unknown"]


class AutoSelectRequest(TextModel):
    """The body of ``POST /api/leaderboards/{id}/models/auto-select``."""

    model_config = ConfigDict(extra="forbid")

    count: int = Field(ge=1, le=20)
    max_input_cost_per_m: float | None = Field(default=None, ge=0)
    max_output_cost_per_m: float | None = Field(default=None, ge=0)
    max_p95_latency_ms: float | None = Field(default=None, gt=0)
    max_p99_latency_ms: float | None = Field(default=None, gt=0)
    open_source_only: bool = False


class ObservedLatency(BaseModel):
    """What our traces say about a model (full-call latency, ms)."""

    p95_ms: float | None = None
    p99_ms: float | None = None
    samples: int = 0
    # The median, for run duration estimates (drgero.runs.estimates); auto-select shows p95/p99.
    p50_ms: float | None = None


class LatencyFigure(BaseModel):
    value_ms: float | None
    source: LatencySource


class PickedModel(BaseModel):
    model_id: str
    name: str
    input_cost_per_m: float
    output_cost_per_m: float
    open_source: bool
    hugging_face_id: str | None
    p95: LatencyFigure
    p99: LatencyFigure
    reason: str

    @property
    def pricing(self) -> Pricing:
        return Pricing(input_per_m_usd=self.input_cost_per_m, output_per_m_usd=self.output_cost_per_m)


class AutoSelectResult(BaseModel):
    picked: list[PickedModel]
    requested: int
    considered: int
    excluded: dict[str, int]
    catalog_fetched_at: float
    catalog_stale: bool
    notes: list[str]


P95_NOTE = (
    "p95 comes from our own traces where we have them (source 'observed'); otherwise it is "
    "estimated from OpenRouter's p90 and p99 as p90 + (p99 - p90) * 5/9 (source "
    "'estimate_p90_p99'). OpenRouter's figures are time to first token over its last 30 minutes."
)

ObservedLookup = Callable[[str], ObservedLatency | None]


def estimate_p95(stats: LatencyStats | None) -> float | None:
    if stats is None or stats.p90 is None or stats.p99 is None:
        return None
    return round(stats.p90 + (stats.p99 - stats.p90) * 5 / 9, 1)


def latency_figures(
    stats: LatencyStats | None, observed: ObservedLatency | None
) -> tuple[LatencyFigure, LatencyFigure]:
    if observed and observed.p95_ms is not None:
        p95 = LatencyFigure(value_ms=observed.p95_ms, source="observed")
    else:
        estimate = estimate_p95(stats)
        p95 = LatencyFigure(value_ms=estimate, source="estimate_p90_p99" if estimate is not None else "unknown")
    if observed and observed.p99_ms is not None:
        p99 = LatencyFigure(value_ms=observed.p99_ms, source="observed")
    elif stats is not None and stats.p99 is not None:
        p99 = LatencyFigure(value_ms=stats.p99, source="openrouter")
    else:
        p99 = LatencyFigure(value_ms=None, source="unknown")
    return p95, p99


def interleave_by_author(models: list[CatalogModel]) -> list[CatalogModel]:
    """Newest first, one model per author per round (deterministic)."""
    ordered = sorted(models, key=lambda m: (-m.created, m.id))
    by_author: dict[str, list[CatalogModel]] = {}
    for model in ordered:
        by_author.setdefault(model.author, []).append(model)
    rounds: list[CatalogModel] = []
    depth = 0
    while len(rounds) < len(ordered):
        layer = [group[depth] for group in by_author.values() if depth < len(group)]
        rounds.extend(sorted(layer, key=lambda m: (-m.created, m.id)))
        depth += 1
    return rounds


def _static_filter(model: CatalogModel, request: AutoSelectRequest, exclude: set[str]) -> str | None:
    """Why ``model`` is out before any latency lookup, or None."""
    if model.id in exclude:
        return "already_attached"
    if not model.text_output:
        return "no_text_output"
    if model.id.endswith(":free"):
        return "free_variant"
    if model.input_per_m_usd is None or model.output_per_m_usd is None:
        return "unknown_price"
    if request.open_source_only and not model.open_source:
        return "not_open_source"
    if request.max_input_cost_per_m is not None and model.input_per_m_usd > request.max_input_cost_per_m:
        return "input_cost"
    if request.max_output_cost_per_m is not None and model.output_per_m_usd > request.max_output_cost_per_m:
        return "output_cost"
    return None


def _latency_filter(request: AutoSelectRequest, p95: LatencyFigure, p99: LatencyFigure) -> str | None:
    if request.max_p95_latency_ms is not None:
        if p95.value_ms is None:
            return "p95_unknown"
        if p95.value_ms > request.max_p95_latency_ms:
            return "p95_latency"
    if request.max_p99_latency_ms is not None:
        if p99.value_ms is None:
            return "p99_unknown"
        if p99.value_ms > request.max_p99_latency_ms:
            return "p99_latency"
    return None


def _reason(model: CatalogModel, rank_in_author: int, p95: LatencyFigure, p99: LatencyFigure) -> str:
    which = "newest" if rank_in_author == 0 else f"#{rank_in_author + 1} newest"
    kind = " open-source" if model.open_source else ""
    parts = [
        f"{which}{kind} model from {model.author} within the constraints",
        f"${model.input_per_m_usd:g}/M input, ${model.output_per_m_usd:g}/M output",
    ]
    if p95.value_ms is not None:
        parts.append(f"p95 {p95.value_ms:g} ms ({p95.source})")
    if p99.value_ms is not None:
        parts.append(f"p99 {p99.value_ms:g} ms ({p99.source})")
    return "; ".join(parts)


async def _latency(catalog: OpenRouterCatalog, model_id: str, api_key: str | None) -> LatencyStats | None:
    """OpenRouter's figures, or None when the lookup fails: the figure is then "unknown"
    (and a model with a latency constraint is skipped) instead of failing the selection."""
    try:
        return await catalog.latency(model_id, api_key)
    except ProviderError:
        return None


def _author_ranks(models: list[CatalogModel]) -> dict[str, int]:
    """Each model's rank among its author's models, newest first (0 = the author's newest)."""
    author_rank: dict[str, int] = {}
    seen_per_author: dict[str, int] = {}
    for model in sorted(models, key=lambda m: (-m.created, m.id)):
        author_rank[model.id] = seen_per_author.get(model.author, 0)
        seen_per_author[model.author] = author_rank[model.id] + 1
    return author_rank


def _notes(picked: int, requested: int, stale: bool) -> list[str]:
    notes = [P95_NOTE]
    if picked < requested:
        notes.append(f"Only {picked} of {requested} requested models meet the constraints.")
    if stale:
        notes.append("OpenRouter's catalog could not be refreshed; a cached copy was used.")
    return notes


async def auto_select(
    request: AutoSelectRequest,
    catalog: OpenRouterCatalog,
    *,
    api_key: str | None,
    observed: ObservedLookup = lambda _model_id: None,
    exclude: set[str] | None = None,
    max_latency_lookups: int = 40,
) -> AutoSelectResult:
    snapshot = await catalog.snapshot(api_key)
    exclude = exclude or set()
    excluded: dict[str, int] = {}
    survivors: list[CatalogModel] = []
    for model in snapshot.models:
        why = _static_filter(model, request, exclude)
        if why:
            excluded[why] = excluded.get(why, 0) + 1
        else:
            survivors.append(model)
    ordered = interleave_by_author(survivors)
    author_rank = _author_ranks(survivors)

    needs_latency = request.max_p95_latency_ms is not None or request.max_p99_latency_ms is not None
    picked: list[PickedModel] = []
    lookups = 0
    position = 0
    batch = max(request.count, 4)
    while len(picked) < request.count and position < len(ordered):
        chunk = ordered[position : position + batch]
        position += len(chunk)
        if needs_latency:
            room = max(0, max_latency_lookups - lookups)
            if room == 0:
                excluded["latency_lookup_limit"] = excluded.get("latency_lookup_limit", 0) + len(chunk)
                continue
            chunk = chunk[:room]
            lookups += len(chunk)
            stats_list = await asyncio.gather(*(_latency(catalog, m.id, api_key) for m in chunk))
        else:
            stats_list = [None] * len(chunk)
        for model, stats in zip(chunk, stats_list, strict=True):
            if len(picked) >= request.count:
                break
            p95, p99 = latency_figures(stats, observed(model.id))
            why = _latency_filter(request, p95, p99)
            if why:
                excluded[why] = excluded.get(why, 0) + 1
                continue
            picked.append(
                PickedModel(
                    model_id=model.id,
                    name=model.name,
                    input_cost_per_m=model.input_per_m_usd or 0.0,
                    output_cost_per_m=model.output_per_m_usd or 0.0,
                    open_source=model.open_source,
                    hugging_face_id=model.hugging_face_id,
                    p95=p95,
                    p99=p99,
                    reason=_reason(model, author_rank[model.id], p95, p99),
                )
            )
    if not needs_latency and picked:
        # Report latency for what we picked even when it did not constrain the choice.
        stats_list = await asyncio.gather(*(_latency(catalog, p.model_id, api_key) for p in picked))
        by_id = {m.id: m for m in survivors}
        for pick, stats in zip(picked, stats_list, strict=True):
            pick.p95, pick.p99 = latency_figures(stats, observed(pick.model_id))
            pick.reason = _reason(by_id[pick.model_id], author_rank[pick.model_id], pick.p95, pick.p99)
    notes = _notes(len(picked), request.count, snapshot.stale)
    return AutoSelectResult(
        picked=picked,
        requested=request.count,
        considered=len(snapshot.models),
        excluded=excluded,
        catalog_fetched_at=snapshot.fetched_at,
        catalog_stale=snapshot.stale,
        notes=notes,
    )
