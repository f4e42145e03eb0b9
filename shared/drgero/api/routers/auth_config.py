"""GET /api/auth/config: which sign-in methods the dashboard offers, read before anyone is
signed in (no authentication; docs/dashboard.md). Local one-click only in local mode, OIDC
(authorization code + PKCE) when ``auth.oidc_client_id`` is set and its endpoints resolve, an
API token always. Nothing secret: a public client's id and the issuer's public endpoints."""

from __future__ import annotations

from fastapi import APIRouter, Response

from drgero.api.deps import CurrentSettings

router = APIRouter(tags=["auth"])


_TEXT = {"type": "string"}
_OIDC_CLIENT = {
    "type": "object",
    "properties": {
        "name": _TEXT,
        "issuer": _TEXT,
        "client_id": _TEXT,
        "authorization_endpoint": _TEXT,
        "token_endpoint": _TEXT,
        "end_session_endpoint": {"type": ["string", "null"]},
        "scopes": _TEXT,
        "redirect_path": _TEXT,
        "session_token": {"type": "string", "enum": ["id_token", "access_token"]},
    },
}
# Documented as a schema rather than a pydantic model: nothing here is ever parsed from a request.
CONFIG_SCHEMA = {
    "type": "object",
    "required": ["methods", "local", "oidc", "oidc_problem", "token"],
    "properties": {
        "methods": {"type": "array", "items": {"type": "string", "enum": ["local", "oidc", "token"]}},
        "local": {"type": "boolean"},
        "oidc": {"anyOf": [_OIDC_CLIENT, {"type": "null"}]},
        "oidc_problem": {"type": ["string", "null"]},
        "token": {"type": "boolean"},
    },
}


@router.get(
    "/api/auth/config",
    summary="The dashboard's sign-in methods (no authentication)",
    responses={200: {"description": "The sign-in methods", "content": {"application/json": {"schema": CONFIG_SCHEMA}}}},
    openapi_extra={"security": []},
)
def auth_config(settings: CurrentSettings, response: Response) -> dict:
    from drgero.api.oidc import auth_config as answer

    # Short: a changed issuer configuration reaches open tabs on their next sign-in.
    response.headers["Cache-Control"] = "no-cache"
    return answer(settings)
