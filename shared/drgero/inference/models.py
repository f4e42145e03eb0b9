"""``GET /v1/models`` and ``GET /v1/models/{model}``: the leaderboards a credential may call,
as OpenAI model objects, so OpenAI clients that list models first (health checks, chat UIs,
IDE plugins) find what to send as ``model``.

One object per leaderboard of the caller's workspace, id ``leaderboard/{id}`` (the value
``POST /v1/chat/completions`` takes), with two fields beyond OpenAI's: ``name`` (the
leaderboard's) and ``production_model`` (``{id, platform, name}`` of the model that answers
now, or null before the first run or pick). The caller needs the ``inference`` scope: the list
is what that scope can call. Dataset (``hpd_``) tokens are refused like on the chat route.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from drgero.core import clock
from drgero.core.errors import ApiError
from drgero.identity.access import require_inference_caller
from drgero.identity.principal import Principal
from drgero.inference.request import MODEL_PREFIX, leaderboard_id_of_model
from drgero.leaderboards.leaderboard import get_leaderboard, list_leaderboards
from drgero.runs.selection import production_model
from drgero.store.table import MetadataTable


def _production_view(leaderboard: dict[str, Any]) -> dict[str, str] | None:
    production = production_model(leaderboard)
    if not production:
        return None
    for model in leaderboard.get("models") or []:
        if model.get("id") == production.get("model_id"):
            return {"id": model["id"], "platform": model["platform"], "name": model["name"]}
    return None


def model_object(leaderboard: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": f"{MODEL_PREFIX}{leaderboard['id']}",
        "object": "model",
        "created": int(clock.parse_iso(str(leaderboard["created_at"])).timestamp()),
        "owned_by": leaderboard["workspace_id"],
        "name": leaderboard.get("name"),
        "production_model": _production_view(leaderboard),
    }


def list_model_objects(table: MetadataTable, principal: Principal) -> dict[str, Any]:
    require_inference_caller(principal)
    items = sorted(list_leaderboards(table, principal.workspace_id), key=lambda item: item["id"])
    return {"object": "list", "data": [model_object(item) for item in items]}


def get_model_object(table: MetadataTable, principal: Principal, model: str) -> dict[str, Any]:
    """One model object; 404 ``not_found`` for an id that is not ``leaderboard/{id}`` of the
    caller's workspace (another workspace's leaderboard is never revealed)."""
    require_inference_caller(principal)
    leaderboard_id = leaderboard_id_of_model(unquote(model))
    if leaderboard_id is None:
        raise ApiError(404, "not_found", f"No model {model[:200]!r}: models are 'leaderboard/{{id}}' (GET /v1/models).")
    return model_object(get_leaderboard(table, principal.workspace_id, leaderboard_id))
