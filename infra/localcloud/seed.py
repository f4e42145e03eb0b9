"""The local cloud's seed: a workspace, its owner user and an owner API token with every
scope, and a session JWT of that owner signed by the local dev issuer.

``LocalCloud`` calls :func:`seed_local` after startup; what it returns goes into
``.drgero/local.json`` (``workspace_id``, ``token``, ``user_jwt``). The local cloud should
merge :func:`localcloud.identity.local_identity_env` into the function environment it builds
(so the functions trust the dev issuer); if it has not, :func:`seed_local` adds it before any
function is loaded.
"""

from __future__ import annotations

from typing import Any

from drgero_ops.seeding import seed_workspace
from localcloud.identity import (
    LOCAL_OWNER_EMAIL,
    LOCAL_OWNER_ID,
    local_identity_env,
    mint_jwt,
    settings_from_env,
)


def seed(settings: Any, clients: Any, jwt_secret: str, plan: str = "pro") -> dict[str, str]:
    """Seeds one workspace on ``plan`` (``[local] seed_plan``: a plan that lets people work, not
    the free plan's three undeletable leaderboards) and returns the contract's local.json
    identity fields."""
    table = clients.table
    seeded = seed_workspace(table, settings, "Local workspace", LOCAL_OWNER_ID, LOCAL_OWNER_EMAIL, plan=plan)
    seed_sandbox_integration(settings, clients, seeded["workspace_id"])
    return {
        "workspace_id": seeded["workspace_id"],
        "token": seeded["token"],
        "user_jwt": mint_jwt(jwt_secret, issuer=settings.auth.jwt_issuer, audience=settings.auth.jwt_audience),
        "user_id": LOCAL_OWNER_ID,
        "user_email": LOCAL_OWNER_EMAIL,
    }


# The sandbox provider accepts any "sk-or-…" key; this one only ever works against it.
SANDBOX_OPENROUTER_KEY = "sk-or-sandbox-local"  # noqa: S105 - a key for the local toy provider


def seed_sandbox_integration(settings: Any, clients: Any, workspace_id: str) -> bool:
    """Gives the local workspace an OpenRouter integration when OpenRouter's base URL is the
    local sandbox (loopback), so OpenRouter candidates, auto-select and the judge work
    offline. Never stores a key meant for the real OpenRouter. Returns whether it did."""
    from urllib.parse import urlsplit

    from drgero.identity.integrations import put_integration

    host = urlsplit(settings.providers.openrouter_base_url).hostname or ""
    if host not in {"127.0.0.1", "localhost", "::1"}:
        return False
    put_integration(settings, clients, workspace_id, "openrouter", SANDBOX_OPENROUTER_KEY, updated_by="local-seed")
    return True


def _ensure_identity_env(cloud: Any) -> None:
    """Fallback for a local cloud that did not merge local_identity_env() itself."""
    if cloud.function_env.get("DRGERO_AUTH__JWT_HS256_SECRET"):
        return
    env = local_identity_env()
    cloud.function_env.update(env)
    cloud.functions.extra_env.update(env)
    stale = [name for name in ("AuthorizerFunction", "ApiFunction") if name in getattr(cloud.functions, "_modules", {})]
    if stale:
        raise RuntimeError(
            f"{stale} were loaded before the local identity env was set; merge "
            "localcloud.identity.local_identity_env() into LocalCloud's function env"
        )


def seed_local(cloud: Any, previous: dict[str, str] | None = None) -> dict[str, str]:
    """Seeds the local workspace, or reuses ``previous`` (what an earlier start of a restored
    state seeded) when its workspace is still in the table: a restart keeps one workspace
    and its owner token; only the session JWT is minted anew."""
    from drgero.core.aws import AwsClients
    from drgero.workspaces.membership import get_workspace

    _ensure_identity_env(cloud)
    settings = settings_from_env(cloud.functions.environment("ApiFunction"))
    clients = AwsClients(settings)
    secret = settings.auth.jwt_hs256_secret
    if previous and previous.get("workspace_id") and get_workspace(clients.table, previous["workspace_id"]):
        jwt = mint_jwt(secret, issuer=settings.auth.jwt_issuer, audience=settings.auth.jwt_audience)
        return {**previous, "user_jwt": jwt}
    return seed(settings, clients, secret, plan=getattr(cloud, "seed_plan", "pro"))
