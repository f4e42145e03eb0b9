"""Candidate models of a leaderboard and the workspace's Dr.Gero models (docs/providers.md).

Scopes:
- ``leaderboards:write``: attach, remove, auto-select (attaching any candidate, a Dr.Gero
  model included, changes the leaderboard; it does not change the Dr.Gero model).
- ``leaderboards:read``: list a leaderboard's models; list and read Dr.Gero models.
- ``models:write``: create, change and delete Dr.Gero models.
Scopes and the body limit are the shared dependencies of ``drgero.api.deps``: an oversized
body is 413 (``limits.models_max_body_bytes``), then a caller without the scope gets 403
whatever it sent, before any 400 about the body. Another workspace's leaderboard or model is
a 404.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Request, Response
from fastapi.responses import JSONResponse

from drgero.api.deps import (
    CurrentClients,
    CurrentSettings,
    CurrentTable,
    LeaderboardsReader,
    LeaderboardsWriter,
    ModelsWriter,
    body_limit,
)
from drgero.core import idempotency
from drgero.leaderboards import attach, candidates
from drgero.own_models import registry as drgero_models
from drgero.providers.autoselect import AutoSelectRequest
from drgero.providers.client import ProviderClient

router = APIRouter(tags=["models"])


BodyLimit = body_limit(lambda settings: settings.limits.models_max_body_bytes)
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=idempotency.MAX_KEY_CHARS,
        description="A retry with the same key and body returns the model the first request attached.",
    ),
]

_ATTACH_EXAMPLES = [
    {"platform": "drgero", "model_id": "dgm_01jd3k0000000000000000000"},
    {"platform": "openrouter", "model": "openai/gpt-4o-mini"},
    {
        "platform": "custom",
        "url": "https://api.example.com/generate",
        "auth": {"kind": "header", "header_name": "X-Api-Key", "secret": "…"},
        "response_format": "json",
        "json_path": "result.text",
        "pricing": {"input_per_m_usd": 0.5, "output_per_m_usd": 1.5},
    },
    {"platform": "huggingface", "url": "https://xyz.endpoints.huggingface.cloud", "token": "hf_…"},
]


async def _json(request: Request) -> Any:
    """The raw JSON body (already validated by FastAPI against the declared model); the
    domain parses it again with its own models, which keep secrets as SecretStr."""
    return await request.json()


# ------------------------------------------------------------------ leaderboard candidates
@router.post(
    "/api/leaderboards/{id}/models",
    status_code=201,
    summary="Attach a candidate model (openrouter, custom, huggingface, drgero)",
    dependencies=[BodyLimit],
)
async def attach_model(
    id: str,
    request: Request,
    principal: LeaderboardsWriter,
    settings: CurrentSettings,
    clients: CurrentClients,
    table: CurrentTable,
    body: Annotated[attach.AttachBody, Body(examples=_ATTACH_EXAMPLES)],
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    idempotency.check_key(idempotency_key)
    view, replayed = await attach.attach_for_workspace(
        table, settings, clients, principal.workspace_id, id, await _json(request), idempotency_key
    )
    headers = {"Idempotent-Replayed": "true"} if replayed else {}
    return JSONResponse(view, status_code=201, headers=headers)


@router.get("/api/leaderboards/{id}/models", summary="The leaderboard's candidate models (secrets masked)")
def list_models(id: str, principal: LeaderboardsReader, table: CurrentTable) -> dict:
    return {"models": candidates.list_models(table, principal.workspace_id, id)}


@router.post(
    "/api/leaderboards/{id}/models/auto-select",
    summary="Pick models from the OpenRouter catalog under constraints and attach them",
    dependencies=[BodyLimit],
)
async def auto_select(
    id: str,
    request: Request,
    principal: LeaderboardsWriter,
    settings: CurrentSettings,
    clients: CurrentClients,
    table: CurrentTable,
    body: Annotated[AutoSelectRequest, Body(examples=[{"count": 3, "max_input_cost_per_m": 1.0}])],
) -> dict:
    return await attach.auto_attach_for_workspace(
        table, settings, clients, principal.workspace_id, id, await _json(request)
    )


@router.post(
    "/api/leaderboards/{id}/models/auto-select/preview",
    summary="What auto-select would pick, with the reason for each (attaches nothing)",
    dependencies=[BodyLimit],
)
async def auto_select_preview(
    id: str,
    request: Request,
    principal: LeaderboardsWriter,
    settings: CurrentSettings,
    clients: CurrentClients,
    table: CurrentTable,
    body: Annotated[AutoSelectRequest, Body(examples=[{"count": 3, "max_input_cost_per_m": 1.0}])],
) -> dict:
    return await attach.auto_select_preview_for_workspace(
        table, settings, clients, principal.workspace_id, id, await _json(request)
    )


@router.get("/api/leaderboards/{id}/models/{model_id}", summary="One candidate model (secrets masked)")
def get_attached_model(id: str, model_id: str, principal: LeaderboardsReader, table: CurrentTable) -> dict:
    return candidates.get_attached(table, principal.workspace_id, id, model_id)


@router.delete("/api/leaderboards/{id}/models/{model_id}", status_code=204, summary="Remove a candidate model")
def remove_model(id: str, model_id: str, principal: LeaderboardsWriter, table: CurrentTable) -> Response:
    candidates.remove(table, principal.workspace_id, id, model_id)
    return Response(status_code=204)


# ------------------------------------------------------------------ Dr.Gero models
def _probe(settings) -> drgero_models.Probe:
    from drgero.providers.validation import validate_target

    client = ProviderClient.shared(settings.providers)

    async def probe(target) -> Any:
        return await validate_target(target, client=client)

    return probe


def _policy(settings):
    return ProviderClient.shared(settings.providers).policy


@router.post("/api/models", status_code=201, summary="Create a Dr.Gero model", dependencies=[BodyLimit])
async def create_model(
    request: Request,
    principal: ModelsWriter,
    settings: CurrentSettings,
    clients: CurrentClients,
    table: CurrentTable,
    body: drgero_models.DrGeroModelCreate,
) -> dict:
    item = await drgero_models.create_model(
        table,
        settings,
        clients,
        principal.workspace_id,
        await _json(request),
        policy=_policy(settings),
        probe=_probe(settings),
    )
    return drgero_models.public_model(item)


@router.get("/api/models", summary="The workspace's Dr.Gero models")
def list_drgero_models(principal: LeaderboardsReader, table: CurrentTable) -> dict:
    return {"models": [drgero_models.public_model(i) for i in drgero_models.list_models(table, principal.workspace_id)]}


@router.get("/api/models/{id}", summary="Read a Dr.Gero model")
def get_model(id: str, principal: LeaderboardsReader, table: CurrentTable) -> dict:
    return drgero_models.public_model(drgero_models.get_model(table, principal.workspace_id, id))


@router.patch(
    "/api/models/{id}", summary="Change a Dr.Gero model (a new endpoint adds a version)", dependencies=[BodyLimit]
)
async def patch_model(
    id: str,
    request: Request,
    principal: ModelsWriter,
    settings: CurrentSettings,
    clients: CurrentClients,
    table: CurrentTable,
    body: drgero_models.DrGeroModelPatch,
) -> dict:
    item = await drgero_models.update_model(
        table,
        settings,
        clients,
        principal.workspace_id,
        id,
        await _json(request),
        policy=_policy(settings),
        probe=_probe(settings),
    )
    return drgero_models.public_model(item)


@router.delete("/api/models/{id}", status_code=204, summary="Delete a Dr.Gero model (409 while attached)")
def delete_model(id: str, principal: ModelsWriter, table: CurrentTable) -> Response:
    workspace_id = principal.workspace_id
    drgero_models.delete_model(
        table, workspace_id, id, lambda model_id: drgero_models.attached_leaderboards(table, workspace_id, model_id)
    )
    return Response(status_code=204)
