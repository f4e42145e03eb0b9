"""The api function's one OIDC resolver per process, and what it decides at the HTTP edge: the
config route's answer and the dashboard's Content-Security-Policy (docs/dashboard.md).

The CSP is computed from the settings: ``connect-src 'self'`` and, only while OIDC sign-in is
configured and resolved, the token endpoint's exact origin (the browser posts the code there
itself; see drgero.identity.oidc_client). Nothing else ever widens it.
"""

from __future__ import annotations

from typing import Any

from drgero.core.settings import AuthSettings, Settings
from drgero.identity.oidc_client import OidcResolver

_resolvers: dict[int, tuple[AuthSettings, OidcResolver]] = {}

CSP_TEMPLATE = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src {connect}; "
    "font-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def resolver_for(settings: Settings) -> OidcResolver:
    """The resolver of these settings (one per settings object, so tests with their own
    settings never share a cache)."""
    found = _resolvers.get(id(settings.auth))
    if found is None or found[0] is not settings.auth:
        found = (settings.auth, OidcResolver(settings.auth))
        _resolvers[id(settings.auth)] = found
    return found[1]


def content_security_policy(settings: Settings | None) -> str:
    connect = ["'self'"]
    if settings is not None:
        client, _problem = resolver_for(settings).resolve()
        if client is not None and client.token_origin not in connect:
            connect.append(client.token_origin)
    return CSP_TEMPLATE.format(connect=" ".join(connect))


def auth_config(settings: Settings) -> dict[str, Any]:
    """``GET /api/auth/config``: the sign-in methods this deployment offers (no secret)."""
    client, problem = resolver_for(settings).resolve()
    local = settings.environment == "local"
    methods = (["local"] if local else []) + (["oidc"] if client else []) + ["token"]
    return {
        "methods": methods,
        "local": local,
        "oidc": client.public() if client else None,
        "oidc_problem": problem,
        "token": True,
    }
