"""FastAPI dependencies: the caller's principal, its scope, body limits, settings, clients.

The principal comes from API Gateway's ``requestContext.authorizer`` (Mangum exposes the
original event as ``request.scope["aws.event"]``). The api function never authenticates on
its own: the authorizer did, and the function only authorizes (scopes, tenant).

Every router checks scopes with :func:`require_scope` and body sizes with :func:`body_limit`,
both dependencies: FastAPI solves dependencies before it reports what is wrong with a declared
body, so a caller without the scope gets 403 (and an oversized body 413) whatever the body
holds, the same on every route. Route-level ``dependencies=[body_limit(...)]`` are solved
first, so the size check never waits on anything that reads the body.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Request

from drgero.core.aws import AwsClients
from drgero.core.errors import ApiError
from drgero.core.settings import Settings
from drgero.identity.access import require_leaderboard_access
from drgero.identity.principal import Principal, Scope
from drgero.store.table import MetadataTable


def aws_event(request: Request) -> dict:
    return request.scope.get("aws.event") or {}


def request_id_of(request: Request) -> str:
    context = aws_event(request).get("requestContext") or {}
    return str(context.get("requestId") or request.headers.get("x-request-id") or "local")


def get_principal(request: Request) -> Principal:
    context = (aws_event(request).get("requestContext") or {}).get("authorizer")
    return Principal.from_context(context)


def get_session_principal(request: Request) -> Principal:
    """Like get_principal, but also accepts a signed-in user who has no workspace resolved
    (creating a first workspace, accepting an invitation). Such a principal has no scopes."""
    context = (aws_event(request).get("requestContext") or {}).get("authorizer")
    return Principal.from_context(context, require_workspace=False)


def require_scope(scope: Scope) -> Any:
    """``principal: Annotated[Principal, require_scope(Scope.X)]``: the caller, 403
    ``insufficient_scope`` without ``scope``."""

    def principal_with_scope(request: Request) -> Principal:
        principal = get_principal(request)
        principal.require_scope(scope)
        return principal

    return Depends(principal_with_scope)


def require_leaderboard_scope(scope: Scope, allow_dataset_token: bool) -> Any:
    """:func:`require_scope` for the routes of leaderboard ``{id}`` that dataset tokens may
    call (:func:`drgero.identity.access.require_leaderboard_access`)."""

    def principal_with_access(id: str, request: Request) -> Principal:
        principal = get_principal(request)
        require_leaderboard_access(principal, id, scope, allow_dataset_token=allow_dataset_token)
        return principal

    return Depends(principal_with_access)


def body_limit(limit_of: Callable[[Settings], int], what: str = "The request body") -> Any:
    """``dependencies=[body_limit(...)]``: 413 ``payload_too_large`` when the body (declared
    length or bytes read) is above ``limit_of(settings)``."""

    async def check(request: Request) -> None:
        limit = limit_of(request.app.state.settings)
        declared = request.headers.get("content-length")
        if (declared and declared.isdigit() and int(declared) > limit) or len(await request.body()) > limit:
            raise ApiError(413, "payload_too_large", f"{what} may be at most {limit} bytes.", {"max_bytes": limit})

    return Depends(check)


def get_table(request: Request) -> MetadataTable:
    return request.app.state.clients.table


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_clients(request: Request) -> AwsClients:
    return request.app.state.clients


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]
CurrentSettings = Annotated[Settings, Depends(get_settings)]
CurrentClients = Annotated[AwsClients, Depends(get_clients)]
SessionPrincipal = Annotated[Principal, Depends(get_session_principal)]
CurrentTable = Annotated[MetadataTable, Depends(get_table)]

# The caller holding one scope: ``principal: LeaderboardsReader`` and the like.
LeaderboardsReader = Annotated[Principal, require_scope(Scope.LEADERBOARDS_READ)]
LeaderboardsWriter = Annotated[Principal, require_scope(Scope.LEADERBOARDS_WRITE)]
ModelsWriter = Annotated[Principal, require_scope(Scope.MODELS_WRITE)]
RunsWriter = Annotated[Principal, require_scope(Scope.RUNS_WRITE)]
TracesReader = Annotated[Principal, require_scope(Scope.TRACES_READ)]
