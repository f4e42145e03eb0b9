"""/api/workspaces: workspaces, members, invitations, billing and usage (docs/identity.md).

Checks run in dependencies, before the body is parsed: another workspace's id in the path is
a 404 whatever the body, and a missing scope is a 403 naming it.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Response
from pydantic import ConfigDict, Field

from drgero.api.deps import CurrentSettings, CurrentTable, SessionPrincipal, get_principal
from drgero.core.errors import ApiError, not_found
from drgero.core.validation import TextModel
from drgero.identity import budget
from drgero.identity.access import require_admin, require_same_workspace, require_user_session
from drgero.identity.principal import Principal, PrincipalKind
from drgero.workspaces import invitations, plans
from drgero.workspaces import membership as workspaces

router = APIRouter(tags=["workspaces"])

Role = Literal["owner", "admin", "member"]
WorkspaceId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")]
UserId = Annotated[str, Path(min_length=1, max_length=256)]
InvitationId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")]


def _member_of(ws: WorkspaceId, principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
    require_same_workspace(principal, ws)
    if principal.kind is PrincipalKind.DATASET_TOKEN:
        raise ApiError(
            403,
            "insufficient_scope",
            "A dataset push token may only push rows, read the dataset status and trigger consolidation.",
            {"required_scope": "leaderboards:read"},
        )
    return principal


def _admin_of(principal: Annotated[Principal, Depends(_member_of)]) -> Principal:
    require_admin(principal)
    return principal


Member = Annotated[Principal, Depends(_member_of)]
Admin = Annotated[Principal, Depends(_admin_of)]


class WorkspaceIn(TextModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"name": "Acme support"}]})
    name: str = Field(min_length=1, max_length=100)


class MemberIn(TextModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"user_id": "user-123", "role": "member"}]}
    )
    user_id: str = Field(min_length=1, max_length=256)
    role: Role = "member"
    email: str = Field(default="", max_length=320)


class RoleIn(TextModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"role": "admin"}]})
    role: Role


class InvitationIn(TextModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"email": "ada@example.com", "role": "member"}]}
    )
    email: str = Field(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    role: Role = "member"


class AcceptIn(TextModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"code": "inv_..."}]})
    code: str = Field(min_length=1, max_length=64)


@router.post("/api/workspaces", status_code=201, summary="Create a workspace (user session; you become its owner)")
def create_workspace(body: WorkspaceIn, principal: SessionPrincipal, table: CurrentTable, settings: CurrentSettings):
    require_user_session(principal)
    return workspaces.create_workspace(table, settings, principal.user_id, body.name.strip(), email=principal.email)


@router.get("/api/workspaces", summary="The workspaces you belong to, with your role in each")
def list_my_workspaces(principal: SessionPrincipal, table: CurrentTable):
    # A user picks one (then sends X-Workspace-Id); a token belongs to exactly one.
    if principal.kind is PrincipalKind.USER:
        roles = workspaces.memberships_of(table, principal.user_id)
    elif principal.kind is PrincipalKind.API_TOKEN:
        roles = {principal.workspace_id: ""}
    else:
        raise ApiError(
            403,
            "insufficient_scope",
            "A dataset push token may only push rows, read the dataset status and trigger consolidation.",
            {"required_scope": "leaderboards:read"},
        )
    found = []
    for workspace_id, role in sorted(roles.items()):
        item = workspaces.get_workspace(table, workspace_id)
        if item:
            found.append(workspaces.public_workspace(item, role))
    return {"workspaces": found}


@router.get("/api/workspaces/{ws}", summary="Read a workspace you belong to")
def get_workspace(ws: WorkspaceId, principal: Member, table: CurrentTable):
    item = workspaces.get_workspace(table, principal.workspace_id)
    if not item:
        raise not_found("Workspace")
    return workspaces.public_workspace(item, principal.role)


@router.get("/api/workspaces/{ws}/members", summary="List members (admin)")
def list_members(ws: WorkspaceId, principal: Admin, table: CurrentTable):
    return {"members": workspaces.list_members(table, principal.workspace_id)}


@router.post(
    "/api/workspaces/{ws}/members",
    status_code=202,
    summary="Invite a user by id (admin): a pending invitation they accept or decline themselves",
)
def add_member(ws: WorkspaceId, body: MemberIn, principal: Admin, table: CurrentTable, settings: CurrentSettings):
    # Consent: nobody becomes a member (or an owner) of a workspace they did not accept.
    return invitations.invite_user(
        table,
        settings,
        principal.workspace_id,
        body.user_id,
        body.role,
        invited_by=principal.user_id or principal.token_id,
        actor_role=_actor_role(principal),
        email=body.email,
    )


@router.patch("/api/workspaces/{ws}/members/{user}", summary="Change a member's role (admin)")
def change_role(ws: WorkspaceId, user: UserId, body: RoleIn, principal: Admin, table: CurrentTable):
    return workspaces.change_role(table, principal.workspace_id, user, body.role, _actor_role(principal))


@router.delete("/api/workspaces/{ws}/members/{user}", status_code=204, summary="Remove a member (admin)")
def remove_member(ws: WorkspaceId, user: UserId, principal: Admin, table: CurrentTable):
    workspaces.remove_member(table, principal.workspace_id, user, _actor_role(principal))
    return Response(status_code=204)


@router.post("/api/workspaces/{ws}/invitations", status_code=201, summary="Invite someone by email (admin)")
def invite(ws: WorkspaceId, body: InvitationIn, principal: Admin, table: CurrentTable, settings: CurrentSettings):
    code, invitation = workspaces.create_invitation(
        table,
        settings,
        principal.workspace_id,
        body.email,
        body.role,
        invited_by=principal.user_id or principal.token_id,
        actor_role=_actor_role(principal),
    )
    return {**invitation, "code": code}


@router.get("/api/workspaces/{ws}/invitations", summary="List invitations (admin)")
def list_invitations(ws: WorkspaceId, principal: Admin, table: CurrentTable):
    return {"invitations": workspaces.list_invitations(table, principal.workspace_id)}


@router.delete(
    "/api/workspaces/{ws}/invitations/{invitation_id}", status_code=204, summary="Revoke a pending invitation (admin)"
)
def revoke_invitation(ws: WorkspaceId, invitation_id: InvitationId, principal: Admin, table: CurrentTable):
    invitations.revoke(
        table, principal.workspace_id, invitation_id, _actor_role(principal), principal.user_id or principal.token_id
    )
    return Response(status_code=204)


@router.get("/api/invitations", summary="Your pending invitations (user session)")
def my_invitations(principal: SessionPrincipal, table: CurrentTable):
    require_user_session(principal)
    return {"invitations": invitations.pending_for(table, principal.user_id, principal.email)}


@router.post("/api/invitations/{invitation_id}/accept", summary="Accept an invitation to you (user session)")
def accept_invitation_by_id(
    invitation_id: InvitationId, principal: SessionPrincipal, table: CurrentTable, settings: CurrentSettings
):
    require_user_session(principal)
    return invitations.accept(table, settings, invitation_id, principal.user_id, principal.email)


@router.post("/api/invitations/{invitation_id}/decline", summary="Decline an invitation to you (user session)")
def decline_invitation(invitation_id: InvitationId, principal: SessionPrincipal, table: CurrentTable):
    require_user_session(principal)
    return invitations.decline(table, invitation_id, principal.user_id, principal.email)


@router.post("/api/invitations/accept", summary="Accept an invitation (user session with the invited, verified email)")
def accept_invitation(body: AcceptIn, principal: SessionPrincipal, table: CurrentTable, settings: CurrentSettings):
    # The code travels in the body, not the URL: URLs end up in access logs.
    require_user_session(principal)
    return workspaces.accept_invitation(
        table,
        body.code.strip(),
        principal.user_id,
        principal.email,
        max_workspaces=settings.auth.max_workspaces_per_user,
    )


@router.get("/api/workspaces/{ws}/usage", summary="Spend by token, run and month (admin)")
def usage(ws: WorkspaceId, principal: Admin, table: CurrentTable):
    # Cold start: the runs area loads only for this route (api function).
    from drgero.runs.spend import run_spend

    # By token and month from the budget accounts; by run from the run records (each run's cost).
    return {**budget.usage_report(table, principal.workspace_id), "by_run": run_spend(table, principal.workspace_id)}


@router.get("/api/workspaces/{ws}/billing", summary="The plan, its limits and usage against them (admin)")
def billing(ws: WorkspaceId, principal: Admin, table: CurrentTable, settings: CurrentSettings):
    # Cold start: the leaderboards area loads only for this route (api function).
    from drgero.leaderboards.leaderboard import count_leaderboards

    leaderboards = count_leaderboards(table, principal.workspace_id)
    return plans.billing(table, settings, principal.workspace_id, leaderboards)


def _actor_role(principal: Principal) -> str:
    """An API token with the admin scope acts as an admin (never as an owner)."""
    return principal.role or "admin"
