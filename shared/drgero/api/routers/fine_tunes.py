"""Fine-tuning Dr.Gero models from a leaderboard's dataset (docs/fine-tuning.md).

Scopes: ``models:write`` to start or cancel a job and to change a model's fine-tune
schedule; ``leaderboards:read`` to read jobs and schedules. Bodies are limited to
``limits.models_max_body_bytes`` (413), then the scope is checked before the body is parsed
(403 whatever was sent); both are the shared dependencies of ``drgero.api.deps``. Another
workspace's model, leaderboard or job is a 404.
"""

from __future__ import annotations

import json
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from drgero.api.deps import CurrentClients, CurrentSettings, CurrentTable, LeaderboardsReader, ModelsWriter, body_limit
from drgero.core.errors import ApiError
from drgero.core.idempotency import check_key
from drgero.own_models.finetune import schedules
from drgero.own_models.finetune.bodies import FineTuneCreate
from drgero.own_models.finetune.cancel import cancel_job
from drgero.own_models.finetune.create import create_job
from drgero.own_models.finetune.records import get_job, list_jobs, public_job

router = APIRouter(tags=["fine-tunes"])


def _inline(schema: Any, defs: dict[str, Any]) -> Any:
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return _inline(defs[ref.removeprefix("#/$defs/")], defs)
        return {k: _inline(v, defs) for k, v in schema.items() if k != "$defs"}
    if isinstance(schema, list):
        return [_inline(v, defs) for v in schema]
    return schema


def _documented_body(model: Any) -> dict[str, Any]:
    """The OpenAPI request body of a route that reads its JSON itself. The body is not a
    FastAPI parameter on purpose: FastAPI parses a declared body before it solves
    dependencies, so malformed JSON would answer 400 before the scope check's 403."""
    schema = model.model_json_schema()
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _inline(schema, schema.get("$defs", {}))}},
        }
    }


async def _json_object(request: Request) -> Any:
    try:
        return json.loads(await request.body() or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError(400, "invalid_request", "The request body is not valid JSON.") from exc


BodyLimit = body_limit(lambda settings: settings.limits.models_max_body_bytes)


@router.post(
    "/api/models/{id}/fine-tunes",
    status_code=201,
    summary="Fine-tune a Dr.Gero model on a leaderboard's current dataset version",
    dependencies=[BodyLimit],
    openapi_extra=_documented_body(FineTuneCreate),
)
async def create_fine_tune(
    id: str,
    request: Request,
    principal: ModelsWriter,
    settings: CurrentSettings,
    clients: CurrentClients,
    table: CurrentTable,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="A retry with the same key and body returns the first request's job (201, "
            "Idempotent-Replayed: true) instead of starting another.",
        ),
    ] = None,
) -> JSONResponse:
    check_key(idempotency_key)
    raw = await _json_object(request)
    # Blocking backend and S3 calls: off the event loop.
    item = await run_in_threadpool(
        partial(create_job, idempotency_key=idempotency_key),
        table,
        settings,
        clients,
        principal.workspace_id,
        id,
        raw,
    )
    headers = {"Idempotent-Replayed": "true"} if item.get("replayed") else {}
    return JSONResponse(public_job(item), status_code=201, headers=headers)


@router.get("/api/models/{id}/fine-tunes", summary="The model's fine-tune jobs, newest first")
def list_fine_tunes(id: str, principal: LeaderboardsReader, table: CurrentTable) -> dict:
    return {"fine_tunes": [public_job(i) for i in list_jobs(table, principal.workspace_id, id)]}


@router.get("/api/models/{id}/fine-tunes/{job}", summary="One fine-tune job")
def get_fine_tune(id: str, job: str, principal: LeaderboardsReader, table: CurrentTable) -> dict:
    return public_job(get_job(table, principal.workspace_id, id, job))


@router.post("/api/models/{id}/fine-tunes/{job}/cancel", summary="Cancel a fine-tune job")
def cancel_fine_tune(
    id: str, job: str, principal: ModelsWriter, settings: CurrentSettings, clients: CurrentClients, table: CurrentTable
) -> dict:
    return public_job(cancel_job(table, settings, clients, principal.workspace_id, id, job))


@router.put(
    "/api/models/{id}/fine-tune-schedule",
    summary="Retrain the model on a schedule (skipped while the dataset is unchanged)",
    dependencies=[BodyLimit],
    openapi_extra=_documented_body(schedules.ScheduleBody),
)
async def put_fine_tune_schedule(
    id: str,
    request: Request,
    principal: ModelsWriter,
    settings: CurrentSettings,
    clients: CurrentClients,
    table: CurrentTable,
) -> dict:
    item = schedules.put_schedule(table, settings, clients, principal.workspace_id, id, await _json_object(request))
    return schedules.public_schedule(item)


@router.get("/api/models/{id}/fine-tune-schedule", summary="The model's fine-tune schedule")
def get_fine_tune_schedule(id: str, principal: LeaderboardsReader, table: CurrentTable) -> dict:
    return schedules.public_schedule(schedules.get_schedule(table, principal.workspace_id, id))


@router.delete("/api/models/{id}/fine-tune-schedule", status_code=204, summary="Remove the fine-tune schedule")
def delete_fine_tune_schedule(
    id: str, principal: ModelsWriter, settings: CurrentSettings, clients: CurrentClients, table: CurrentTable
) -> Response:
    schedules.delete_schedule(table, settings, clients, principal.workspace_id, id)
    return Response(status_code=204)
