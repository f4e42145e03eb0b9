"""Which ranked candidates may become the production model (docs/runs.md, "Production
capabilities").

A leaderboard may declare ``required_capabilities`` (``tools``, ``json_mode``, ``streaming``):
what the apps calling it need (tools, ``response_format``, ``stream: true``). A candidate that
lacks one is still ranked, but is never made production: a completed run, a switch back to
``ranking_winner`` and a fallback after a removal all take the best-ranked *eligible* model,
a manual pick of an ineligible one is 409 ``model_lacks_capabilities``, and the ranking's
rows say why (``production_eligible``, ``not_eligible_reason``). What a candidate can do is
read from its stored item (drgero.providers.capabilities.candidate_parameters).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from drgero.core.errors import ApiError
from drgero.providers.capabilities import missing_capabilities
from drgero.store.keys import candidate_key
from drgero.store.table import MetadataTable


def missing_of(table: MetadataTable, leaderboard: dict[str, Any]) -> Callable[[str], list[str]]:
    """model id -> the required capabilities it lacks (cached per call)."""
    required = list(leaderboard.get("required_capabilities") or [])
    seen: dict[str, list[str]] = {}

    def missing(model_id: str) -> list[str]:
        if not required:
            return []
        if model_id not in seen:
            seen[model_id] = missing_capabilities(required, table.get(*candidate_key(leaderboard["id"], model_id)))
        return seen[model_id]

    return missing


def annotate(rows: list[dict[str, Any]], missing: Callable[[str], list[str]]) -> list[dict[str, Any]]:
    """The ranking rows with ``production_eligible`` and, when not, ``not_eligible_reason``."""
    out = []
    for row in rows:
        lacks = missing(str(row.get("model_id")))
        view = {**row, "production_eligible": not lacks}
        if lacks:
            view["not_eligible_reason"] = "lacks required capabilities: " + ", ".join(lacks)
        out.append(view)
    return out


def best_eligible(rows: list[dict[str, Any]], missing: Callable[[str], list[str]], attached: set[str]) -> str | None:
    """The best-ranked scored, attached candidate that has every required capability."""
    ordered = sorted(
        (r for r in rows if r.get("model_id") in attached and r.get("score") is not None),
        key=lambda r: (r.get("rank") or 10**9, r["model_id"]),
    )
    return next((r["model_id"] for r in ordered if not missing(r["model_id"])), None)


def require_eligible(model_id: str, missing: Callable[[str], list[str]]) -> None:
    lacks = missing(model_id)
    if lacks:
        raise ApiError(
            409,
            "model_lacks_capabilities",
            f"Model {model_id} cannot be production: it lacks the leaderboard's required capabilities "
            f"({', '.join(lacks)}).",
            {"missing": lacks},
        )
