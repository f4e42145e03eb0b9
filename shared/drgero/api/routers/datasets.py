"""/v1/leaderboard/{id}/dataset/*: status, consolidate now, dataset tokens (docs/datasets.md).

``POST /v1/leaderboard/{id}/dataset/push`` is served by its own function (push_ingest, no web
framework); :func:`document_push_route` adds it to this app's OpenAPI document.
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.metrics import MetricUnit
from fastapi import APIRouter, Body
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from drgero.api.deps import CurrentClients, CurrentSettings, require_leaderboard_scope
from drgero.core.observability import metrics
from drgero.core.validation import TextModel
from drgero.datasets.consolidate import Consolidator
from drgero.datasets.push import enqueue_consolidation
from drgero.datasets.status import dataset_record, dataset_status, pending_rows, push_leaderboard
from drgero.datasets.triggers import after_consolidation
from drgero.identity.principal import Principal, Scope

router = APIRouter(tags=["datasets"])
# Dataset tokens may read the status and consolidate; only API tokens and users create tokens.
DatasetReader = Annotated[Principal, require_leaderboard_scope(Scope.LEADERBOARDS_READ, allow_dataset_token=True)]
DatasetWriter = Annotated[Principal, require_leaderboard_scope(Scope.LEADERBOARDS_WRITE, allow_dataset_token=True)]
LeaderboardWriter = Annotated[Principal, require_leaderboard_scope(Scope.LEADERBOARDS_WRITE, allow_dataset_token=False)]


# ------------------------------------------------------------------ status
@router.get("/v1/leaderboard/{id}/dataset/status", summary="PUSH dataset status")
def status(id: str, principal: DatasetReader, settings: CurrentSettings, clients: CurrentClients) -> dict:
    leaderboard_id = id  # the contract names the path parameter {id}
    table = clients.table
    leaderboard = push_leaderboard(table, principal.workspace_id, leaderboard_id)
    return dataset_status(settings, clients, table, leaderboard)


# ------------------------------------------------------------------ consolidate now
@router.post(
    "/v1/leaderboard/{id}/dataset/consolidate",
    summary="Consolidate pending rows now (200) or queue it (202)",
    responses={202: {"description": "Queued: too many pending rows to merge within the request, or one is running"}},
)
def consolidate(id: str, principal: DatasetWriter, settings: CurrentSettings, clients: CurrentClients) -> JSONResponse:
    leaderboard_id = id  # the contract names the path parameter {id}
    table = clients.table
    push_leaderboard(table, principal.workspace_id, leaderboard_id)
    record = dataset_record(table, leaderboard_id)
    pending = pending_rows(record)
    if pending > settings.limits.consolidate_inline_max_rows:
        enqueue_consolidation(settings, clients, principal.workspace_id, leaderboard_id, "api")
        return JSONResponse(
            {"status": "queued", "version": int(record.get("version") or 0), "pending": pending}, status_code=202
        )
    result = Consolidator(settings, clients).consolidate(principal.workspace_id, leaderboard_id)
    if result.status == "busy":
        # The running consolidation re-queues itself when rows remain after it.
        return JSONResponse({"status": "queued", "version": result.version, "pending": result.pending}, 202)
    if result.more_pending:
        enqueue_consolidation(settings, clients, principal.workspace_id, leaderboard_id, "continue")
    after_consolidation(settings, clients, principal.workspace_id, leaderboard_id, result)
    if result.quarantined:  # the same alarm-worthy metric as the consolidate function's
        metrics.add_metric(name="BatchesQuarantined", unit=MetricUnit.Count, value=len(result.quarantined))
    return JSONResponse(result.body(), status_code=200)


# ------------------------------------------------------------------ dataset tokens
class DatasetTokenCreate(TextModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"name": "production app"}]})
    name: str = Field(default="", max_length=100)


@router.post(
    "/v1/leaderboard/{id}/dataset/tokens",
    status_code=201,
    summary="Create an hpd_ push token for this leaderboard (the secret is shown once)",
)
def create_token(
    id: str,
    principal: LeaderboardWriter,
    settings: CurrentSettings,
    clients: CurrentClients,
    body: DatasetTokenCreate | None = Body(default=None),  # noqa: B008 - FastAPI's declaration style
) -> dict:
    from drgero.identity.credentials import issue_dataset_token

    leaderboard_id = id  # the contract names the path parameter {id}
    table = clients.table
    push_leaderboard(table, principal.workspace_id, leaderboard_id)
    secret, public = issue_dataset_token(
        table, principal.workspace_id, leaderboard_id, (body.name if body else "") or ""
    )
    return {"token": secret, **public, "leaderboard_id": leaderboard_id}


# ------------------------------------------------------------------ OpenAPI for push_ingest
class PushRow(TextModel):
    """One row. Aliases, first present wins: input|prompt|question|query (else messages);
    output|response|completion|answer|expected; id|example_id|trace_id."""

    model_config = ConfigDict(
        extra="allow", json_schema_extra={"examples": [{"input": "What is 2+2?", "output": "4", "id": "row-1"}]}
    )
    input: str | None = None
    messages: list[dict[str, Any]] | None = None
    output: str | None = None
    rubric: str | None = None
    id: str | None = None
    metadata: dict[str, Any] | None = None


class PushAccepted(BaseModel):
    accepted: int
    batch_id: str
    pending: int


def document_push_route(schema: dict[str, Any]) -> None:
    """Adds POST /v1/leaderboard/{id}/dataset/push (served by push_ingest) to the document."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for model in (PushRow, PushAccepted):
        components[model.__name__] = model.model_json_schema(ref_template="#/components/schemas/{model}")
    row = {"$ref": "#/components/schemas/PushRow"}
    error = {"$ref": "#/components/schemas/Error"} if "Error" in components else {"type": "object"}

    def failure(text: str) -> dict[str, Any]:
        return {"description": text, "content": {"application/json": {"schema": error}}}

    schema.setdefault("paths", {})["/v1/leaderboard/{id}/dataset/push"] = {
        "post": {
            "tags": ["datasets"],
            "summary": "Push dataset rows (served by the push_ingest function)",
            "description": (
                "Auth: the leaderboard's hpd_ token, or an API token with leaderboards:write. The body is one "
                "row, an array of rows, or an object with rows/events/samples holding an array. Accepted or "
                "rejected whole. Idempotency-Key: a retry with the same key and body returns the first answer."
            ),
            "operationId": "push_dataset_rows",
            "parameters": [
                {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}},
                {"name": "Idempotency-Key", "in": "header", "required": False, "schema": {"type": "string"}},
            ],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "example": {
                            "rows": [
                                {"input": "What did the user ask?", "output": "The answer your LLM returned"},
                                {"messages": [{"role": "user", "content": "Hi"}], "output": "Hello!", "id": "t-2"},
                            ]
                        },
                        "schema": {
                            "examples": [{"input": "What did the user ask?", "output": "The answer your LLM returned"}],
                            "oneOf": [
                                row,
                                {"type": "array", "items": row},
                                {"type": "object", "properties": {"rows": {"type": "array", "items": row}}},
                                {"type": "object", "properties": {"events": {"type": "array", "items": row}}},
                                {"type": "object", "properties": {"samples": {"type": "array", "items": row}}},
                            ],
                        },
                    }
                },
            },
            "responses": {
                "202": {
                    "description": "Accepted",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PushAccepted"}}},
                },
                "400": failure("invalid_json, invalid_body, empty_batch, or invalid_rows (details per row index)"),
                "401": failure("Missing or invalid credentials"),
                "403": failure("dataset_closed (end date passed) or insufficient_scope"),
                "404": failure("No such leaderboard in the caller's workspace"),
                "409": failure("not_push_dataset, or idempotency_in_progress"),
                "413": failure("payload_too_large, too_many_rows or row_too_large (limits in the message)"),
                "422": failure("idempotency_key_reused with a different body"),
                "429": failure("daily_limit or monthly_limit (Retry-After)"),
            },
        }
    }
