"""/api/leaderboards: create, list, read, change and delete leaderboards (docs/datasets.md)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from drgero.api.deps import (
    CurrentClients,
    CurrentSettings,
    LeaderboardsReader,
    LeaderboardsWriter,
    aws_event,
)
from drgero.core.aws import AwsClients
from drgero.core.settings import Settings
from drgero.identity.principal import Principal, PrincipalKind
from drgero.leaderboards import leaderboard as leaderboards

router = APIRouter(tags=["leaderboards"])


def _base_url(settings: Settings, request: Request) -> str:
    """Where links point: api.public_base_url, else the API Gateway stage the request came in
    through (domain + stage), else a path relative to the API root."""
    if settings.api.public_base_url:
        return settings.api.public_base_url
    context = aws_event(request).get("requestContext") or {}
    domain, stage = context.get("domainName"), context.get("stage")
    if domain and stage:
        return f"https://{domain}/{stage}"
    return ""


def _resolver(settings: Settings, clients: AwsClients, principal: Principal):
    def resolve(config: leaderboards.GetDataset, leaderboard_id: str) -> dict[str, Any]:
        from drgero.datasets import hf  # the hub client is only imported when a GET dataset is used

        return hf.resolve_and_snapshot(settings, clients, principal.workspace_id, leaderboard_id, config.url)

    return resolve


def _payer(principal: Principal) -> str:
    """The API token that pays for scheduled runs it sets; a user session has no budget."""
    return principal.token_id if principal.kind is PrincipalKind.API_TOKEN else ""


@router.post("/api/leaderboards", status_code=201, summary="Create a leaderboard")
def create_leaderboard(
    request: Request,
    principal: LeaderboardsWriter,
    settings: CurrentSettings,
    clients: CurrentClients,
    body: leaderboards.LeaderboardCreate,
) -> dict:
    from drgero.runs import schedules  # run schedules (docs/runs.md)

    # 400 invalid_schedule / schedule_too_frequent before anything is created
    schedules.parse_schedule(body.schedule, settings.runs.schedule_min_interval_minutes)
    item = leaderboards.create_leaderboard(
        clients.table,
        settings,
        principal.workspace_id,
        body,
        _resolver(settings, clients, principal),
        schedule_token_id=_payer(principal),
    )
    schedules.sync_leaderboard_schedule(settings, clients, item)
    return leaderboards.public_view(item, _base_url(settings, request))


@router.get("/api/leaderboards", summary="List the workspace's leaderboards")
def list_leaderboards(
    request: Request, principal: LeaderboardsReader, settings: CurrentSettings, clients: CurrentClients
) -> dict:
    base = _base_url(settings, request)
    items = leaderboards.list_leaderboards(clients.table, principal.workspace_id)
    return {"leaderboards": [leaderboards.public_view(item, base) for item in items]}


@router.get("/api/leaderboards/{id}", summary="Read a leaderboard")
def get_leaderboard(
    id: str,
    request: Request,
    principal: LeaderboardsReader,
    settings: CurrentSettings,
    clients: CurrentClients,
) -> dict:
    item = leaderboards.get_leaderboard(clients.table, principal.workspace_id, id)
    return leaderboards.public_view(item, _base_url(settings, request))


@router.patch("/api/leaderboards/{id}", summary="Change a leaderboard")
def patch_leaderboard(
    id: str,
    request: Request,
    principal: LeaderboardsWriter,
    settings: CurrentSettings,
    clients: CurrentClients,
    body: leaderboards.LeaderboardPatch,
) -> dict:
    from drgero.runs import schedules  # run schedules (docs/runs.md)

    if "schedule" in body.model_fields_set:
        schedules.parse_schedule(body.schedule, settings.runs.schedule_min_interval_minutes)
    item = leaderboards.update_leaderboard(
        clients.table,
        principal.workspace_id,
        id,
        body,
        _resolver(settings, clients, principal),
        settings,
        schedule_token_id=_payer(principal),
    )
    if "schedule" in body.model_fields_set:
        schedules.sync_leaderboard_schedule(settings, clients, item)
    return leaderboards.public_view(item, _base_url(settings, request))


@router.delete("/api/leaderboards/{id}", status_code=204, summary="Delete a leaderboard")
def delete_leaderboard(
    id: str, principal: LeaderboardsWriter, settings: CurrentSettings, clients: CurrentClients
) -> Response:
    leaderboards.delete_leaderboard(clients.table, settings, principal.workspace_id, id)
    from drgero.runs import schedules  # run schedules (docs/runs.md)

    schedules.delete_leaderboard_schedule(settings, clients, id)
    return Response(status_code=204)
