"""The production target of a leaderboard: what an inference call needs, resolved once and
kept for a few seconds per function instance.

A target holds the leaderboard's prompt, redaction, failure policy and capture rule, and the
ordered models to try: the production model (manual pick or ranking winner) first, then,
when the leaderboard's ``inference.fallback`` is on, the next models of the latest ranking
(at most ``max_fallbacks``). Only models still attached are ever used, so a removed model is
never called (the manual selection cannot pin a removed model: candidates.remove_model
refuses it; a ranking winner is intersected with the attached models).

Cache (``TargetCache``): keyed by (workspace, leaderboard), entries live
``inference.target_cache_seconds`` (default 5 s). That is the documented upper bound on how
long a change (selection, prompt, models, a new ranking winner, a rotated integration key)
takes to reach a warm instance; there is no cross-instance invalidation. A failed
resolution (404, 409) is not cached. Decrypted secrets live only in this process's memory.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from drgero.core.aws import AwsClients
from drgero.core.errors import ApiError
from drgero.core.settings import Settings
from drgero.identity.integrations import get_integration_key
from drgero.inference.config import CaptureRule, InferencePolicy
from drgero.store.table import MetadataTable


@dataclass(frozen=True)
class ModelChoice:
    """One callable model: the provider target (secret decrypted), its key and price."""

    model_id: str
    name: str
    platform: str
    target: Any
    api_key: str | None = field(repr=False, default=None)
    pricing: Any = None
    chat: bool = True  # speaks OpenAI chat: turns pass through, options may be forwarded
    supported: frozenset[str] = frozenset()  # the OpenAI parameters it honours (providers.capabilities)

    def public(self) -> dict[str, str]:
        return {"id": self.model_id, "platform": self.platform, "name": self.name}


@dataclass(frozen=True)
class ProductionTarget:
    workspace_id: str
    leaderboard_id: str
    prompt: str
    dataset_mode: str
    leaderboard: dict[str, Any]  # the record (for the redaction policy); read-only
    policy: InferencePolicy
    capture: CaptureRule
    strategy: str
    models: tuple[ModelChoice, ...]  # production first, then fallbacks in ranking order


def no_production_model(leaderboard_id: str) -> ApiError:
    return ApiError(
        409,
        "no_production_model",
        f"Leaderboard {leaderboard_id} has no production model yet: run it "
        f"(POST /api/leaderboards/{leaderboard_id}/runs) so a ranking winner is chosen, or pick a model "
        f"(PUT /api/leaderboards/{leaderboard_id}/selection).",
    )


def fallback_ids(
    table: MetadataTable,
    leaderboard: dict[str, Any],
    production_id: str,
    limit: int,
    versions: dict[str, int] | None = None,
) -> list[str]:
    """The next ``limit`` models of the latest completed ranking, still attached, scored.
    ``versions`` (when given) receives the Dr.Gero model version that ranking evaluated for
    each pick that is a ``drgero`` candidate: a fallback is served as ranked too."""
    if limit <= 0:
        return []
    # Cold start: candidates, runs and selection (with the provider layer and httpx) load with
    # the first target resolution, not at import (inference function).
    from drgero.leaderboards.candidates import attached_model_ids
    from drgero.runs import records
    from drgero.runs.selection import latest_completed_run  # with candidates: httpx

    latest = latest_completed_run(table, leaderboard["id"])
    ranking = records.ranking_of(latest) if latest else None
    attached = attached_model_ids(leaderboard)
    ordered = sorted((ranking or {}).get("rows") or [], key=lambda row: row.get("rank") or 0)
    picks: list[str] = []
    for row in ordered:
        model_id = row.get("model_id")
        if model_id == production_id or model_id not in attached or row.get("score") is None:
            continue
        picks.append(model_id)
        if versions is not None and row.get("model_version") is not None:
            versions[model_id] = int(row["model_version"])
        if len(picks) == limit:
            break
    return picks


def resolve(settings: Settings, clients: AwsClients, table: MetadataTable, workspace_id: str, leaderboard_id: str):
    """Reads the leaderboard through the caller's workspace (404 otherwise) and loads the
    production model (409 ``no_production_model`` when there is none) and its fallbacks."""
    # Cold start: as in fallback_ids (the leaderboard, candidate and run modules, httpx).
    from drgero.leaderboards.candidates import attached_model_ids
    from drgero.leaderboards.leaderboard import get_leaderboard
    from drgero.runs.selection import production_model  # with candidates: httpx

    leaderboard = get_leaderboard(table, workspace_id, leaderboard_id)
    production = production_model(leaderboard)
    if not production or production.get("model_id") not in attached_model_ids(leaderboard):
        raise no_production_model(leaderboard_id)
    policy = InferencePolicy.of_leaderboard(leaderboard)
    ids = [production["model_id"]]
    # A drgero candidate is served at the model version its run ranked (or the manual pin),
    # never the model's current version (a fine-tune no run has evaluated yet).
    versions: dict[str, int] = {}
    if production.get("model_version") is not None:
        versions[production["model_id"]] = int(production["model_version"])
    if policy.fallback:
        ids += fallback_ids(table, leaderboard, production["model_id"], policy.max_fallbacks, versions)
    models = tuple(
        _load_choice(settings, clients, table, workspace_id, leaderboard_id, model_id, versions.get(model_id))
        for model_id in ids
    )
    return ProductionTarget(
        workspace_id=workspace_id,
        leaderboard_id=leaderboard_id,
        prompt=leaderboard.get("prompt") or "",
        dataset_mode=leaderboard.get("dataset_mode") or "",
        leaderboard=leaderboard,
        policy=policy,
        capture=CaptureRule.of_leaderboard(leaderboard),
        strategy=production["strategy"],
        models=models,
    )


def _load_choice(
    settings: Settings,
    clients: AwsClients,
    table: MetadataTable,
    workspace_id: str,
    leaderboard_id: str,
    model_id: str,
    version: int | None = None,
) -> ModelChoice:
    # Cold start: as in fallback_ids.
    from drgero.leaderboards.candidates import load_target
    from drgero.providers.capabilities import speaks_chat, supported_parameters
    from drgero.providers.types import Pricing

    target, item = load_target(table, settings, clients, workspace_id, leaderboard_id, model_id, version)
    api_key = None
    if target.platform == "openrouter":
        api_key = get_integration_key(settings, clients, workspace_id, "openrouter")
    pricing = getattr(target, "pricing", None)
    if isinstance(item.get("pricing"), dict):
        try:
            pricing = Pricing.model_validate(item["pricing"])
        except ValueError:  # a malformed stored price: treat the cost as unknown, never guess
            pricing = None
    return ModelChoice(
        model_id=model_id,
        name=str(item.get("name") or model_id),
        platform=target.platform,
        target=target,
        api_key=api_key,
        pricing=pricing,
        chat=speaks_chat(target),
        supported=supported_parameters(target, item),
    )


class TargetCache:
    """(workspace, leaderboard) -> ProductionTarget for ``ttl`` seconds. Thread-safe; a miss
    resolves outside the lock (two concurrent misses may both resolve: harmless)."""

    def __init__(self, ttl_seconds: float, clock: Callable[[], float] = time.monotonic, max_entries: int = 1024):
        self.ttl = ttl_seconds
        self.clock = clock
        self.max_entries = max_entries
        self._entries: dict[tuple[str, str], tuple[float, ProductionTarget]] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str], load: Callable[[], ProductionTarget]) -> ProductionTarget:
        now = self.clock()
        if self.ttl > 0:
            with self._lock:
                entry = self._entries.get(key)
                if entry is not None and entry[0] > now:
                    return entry[1]
        target = load()
        if self.ttl > 0:
            with self._lock:
                if len(self._entries) >= self.max_entries:
                    self._entries = {k: v for k, v in self._entries.items() if v[0] > now}
                    if len(self._entries) >= self.max_entries:
                        self._entries.clear()
                self._entries[key] = (now + self.ttl, target)
        return target

    def invalidate(self, key: tuple[str, str] | None = None) -> None:
        with self._lock:
            if key is None:
                self._entries.clear()
            else:
                self._entries.pop(key, None)
