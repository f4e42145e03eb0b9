"""/v1/models: the leaderboards the caller may call, in OpenAI's list shape (docs/inference.md).

Served by the api function (two ``Api`` events in the template); the chat route itself is the
inference function's. The model id holds a slash (``leaderboard/{id}``), so the one-model
route takes the rest of the path (``{model+}`` in the template).
"""

from __future__ import annotations

from fastapi import APIRouter

from drgero.api.deps import CurrentPrincipal, CurrentTable
from drgero.inference import models

router = APIRouter(tags=["inference"])


@router.get("/v1/models", summary="List the leaderboards this credential may call, as OpenAI models")
def list_models(principal: CurrentPrincipal, table: CurrentTable) -> dict:
    return models.list_model_objects(table, principal)


@router.get("/v1/models/{model:path}", summary="One leaderboard as an OpenAI model (id leaderboard/{id})")
def get_model(model: str, principal: CurrentPrincipal, table: CurrentTable) -> dict:
    return models.get_model_object(table, principal, model)
