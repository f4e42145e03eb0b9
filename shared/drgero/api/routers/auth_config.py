"""GET /api/auth/config: which sign-in methods the dashboard offers, read before anyone is
signed in (no authentication; docs/dashboard.md). Local one-click only in local mode, OIDC
(authorization code + PKCE) when ``auth.oidc_client_id`` is set and its endpoints resolve, an
API token always. Nothing secret: a public client's id and the issuer's public endpoints."""

from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import BaseModel

from drgero.api.deps import CurrentSettings

router = APIRouter(tags=["auth"])


class OidcClientOut(BaseModel):
    name: str
    issuer: str
    client_id: str
    authorization_endpoint: str
    token_endpoint: str
    end_session_endpoint: str | None
    scopes: str
    redirect_path: str
    session_token: str


class AuthConfigOut(BaseModel):
    methods: list[str]
    local: bool
    oidc: OidcClientOut | None
    oidc_problem: str | None
    token: bool


@router.get(
    "/api/auth/config",
    summary="The dashboard's sign-in methods (no authentication)",
    response_model=AuthConfigOut,
    openapi_extra={"security": []},
)
def auth_config(settings: CurrentSettings, response: Response) -> dict:
    from drgero.api.oidc import auth_config as answer

    # Short: a changed issuer configuration reaches open tabs on their next sign-in.
    response.headers["Cache-Control"] = "no-cache"
    return answer(settings)
