"""FastAPI dependencies: the caller's principal, settings and AWS clients.

The principal comes from API Gateway's ``requestContext.authorizer`` (Mangum exposes the
original event as ``request.scope["aws.event"]``). The api function never authenticates on
its own: the authorizer did, and the function only authorizes (scopes, tenant).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from drgero.core.aws import AwsClients
from drgero.core.settings import Settings
from drgero.identity.principal import Principal
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


def get_table(request: Request) -> MetadataTable:
    settings: Settings = request.app.state.settings
    return MetadataTable(request.app.state.clients.dynamodb, settings.aws.table_name)


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_clients(request: Request) -> AwsClients:
    return request.app.state.clients


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]
CurrentSettings = Annotated[Settings, Depends(get_settings)]
CurrentClients = Annotated[AwsClients, Depends(get_clients)]
SessionPrincipal = Annotated[Principal, Depends(get_session_principal)]
CurrentTable = Annotated[MetadataTable, Depends(get_table)]
