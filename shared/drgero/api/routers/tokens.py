"""/api/tokens: API tokens of the caller's workspace (admin). The secret is in the creation
(and rotation) response only; listings show ``prefix…last4``, scopes, expiry, budget, spend."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response
from pydantic import ConfigDict, Field

from drgero.api.deps import CurrentSettings, CurrentTable, get_principal
from drgero.core.errors import ApiError, not_found
from drgero.core.validation import TextModel
from drgero.identity import credentials
from drgero.identity.access import require_admin
from drgero.identity.principal import ALL_SCOPES, Principal, PrincipalKind, Scope

router = APIRouter(tags=["tokens"])

TokenId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")]


def _admin(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
    require_admin(principal)
    return principal


Admin = Annotated[Principal, Depends(_admin)]


class TokenIn(TextModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"name": "ci", "scopes": ["leaderboards:read"], "budget_usd": 5.0}]},
    )
    name: str = Field(min_length=1, max_length=100)
    scopes: list[Scope] = Field(min_length=1, max_length=len(ALL_SCOPES))
    expires_at: datetime | None = Field(default=None, description="ISO 8601 with a timezone; omit for no expiry")
    budget_usd: float | None = Field(default=None, ge=0, description="Dollar budget; omit for none")


class BudgetIn(TextModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"budget_usd": 20.0}]})
    budget_usd: float | None = Field(ge=0, description="The new dollar budget; null removes it")


class RotateIn(TextModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"grace_seconds": 3600}]})
    grace_seconds: int | None = Field(default=None, ge=0, description="How long the old secret keeps working")


def _refuse_budget_escape(table, principal: Principal) -> None:
    """A budget-limited token must not mint itself an unlimited sibling."""
    if principal.kind is PrincipalKind.API_TOKEN:
        own = credentials.get_api_token(table, principal.workspace_id, principal.token_id) or {}
        if "budget_micro_usd" in own:
            raise ApiError(
                403,
                "budget_limited_token",
                "A token with a budget cannot create tokens or change budgets; use a session or an unbudgeted "
                "admin token.",
            )


@router.post("/api/tokens", status_code=201, summary="Create an API token (the secret is shown once)")
def create_token(body: TokenIn, principal: Admin, table: CurrentTable, settings: CurrentSettings):
    scopes = {s.value for s in body.scopes}
    missing = sorted(scopes - principal.scopes)
    if missing:
        raise ApiError(
            403,
            "insufficient_scope",
            f"You cannot grant scopes you do not hold: {', '.join(missing)}.",
            {"required_scope": missing[0]},
        )
    expires = None
    if body.expires_at is not None:
        if body.expires_at.tzinfo is None:
            raise ApiError(400, "invalid_request", "expires_at needs a timezone (e.g. 2030-01-01T00:00:00Z).")
        expires = body.expires_at.timestamp()
        if expires <= time.time():
            raise ApiError(400, "invalid_request", "expires_at must be in the future.")
    if body.budget_usd is not None and body.budget_usd > settings.auth.max_token_budget_usd:
        raise ApiError(400, "invalid_request", f"budget_usd may be at most {settings.auth.max_token_budget_usd}.")
    _refuse_budget_escape(table, principal)
    secret, record = credentials.issue_api_token(
        table,
        principal.workspace_id,
        body.name.strip(),
        scopes,
        expires_at=expires,
        budget_usd=body.budget_usd,
        created_by=principal.user_id or principal.token_id,
        max_live=settings.auth.max_tokens_per_workspace,
    )
    return {**record, "token": secret}


@router.get("/api/tokens", summary="List API tokens (no secrets)")
def list_tokens(principal: Admin, table: CurrentTable):
    return {"tokens": credentials.list_api_tokens(table, principal.workspace_id)}


@router.get("/api/tokens/{token_id}", summary="Read one API token (no secret)")
def get_token(token_id: TokenId, principal: Admin, table: CurrentTable):
    item = credentials.get_api_token(table, principal.workspace_id, token_id)
    if not item:
        raise not_found("Token")
    return credentials.public_api_token(item)


@router.patch("/api/tokens/{token_id}", summary="Change a token's budget (spend so far still counts)")
def change_budget(token_id: TokenId, body: BudgetIn, principal: Admin, table: CurrentTable, settings: CurrentSettings):
    if body.budget_usd is not None and body.budget_usd > settings.auth.max_token_budget_usd:
        raise ApiError(400, "invalid_request", f"budget_usd may be at most {settings.auth.max_token_budget_usd}.")
    _refuse_budget_escape(table, principal)
    changed = credentials.change_budget(table, principal.workspace_id, token_id, body.budget_usd)
    if changed is None:
        raise not_found("Token")
    return changed


@router.delete("/api/tokens/{token_id}", status_code=204, summary="Revoke an API token")
def revoke_token(token_id: TokenId, principal: Admin, table: CurrentTable):
    if credentials.revoke_api_token(table, principal.workspace_id, token_id) is None:
        raise not_found("Token")
    return Response(status_code=204)


@router.post(
    "/api/tokens/{token_id}/rotate",
    status_code=201,
    summary="Rotate: a new secret now, the old one expires after a grace period",
)
def rotate_token(
    token_id: TokenId, principal: Admin, table: CurrentTable, settings: CurrentSettings, body: RotateIn | None = None
):
    grace = settings.auth.rotation_grace_seconds if body is None or body.grace_seconds is None else body.grace_seconds
    if grace > settings.auth.max_rotation_grace_seconds:
        raise ApiError(
            400, "invalid_request", f"grace_seconds may be at most {settings.auth.max_rotation_grace_seconds}."
        )
    rotated = credentials.rotate_api_token(table, principal.workspace_id, token_id, grace)
    if rotated is None:
        raise not_found("Token")
    secret, record = rotated
    return {**record, "token": secret}
