"""Who calls: seeded workspaces, the dev JWT issuer, and principals for handler events.

- :func:`new_workspace`: a workspace with an owner member and an owner API token with every
  scope (``{"workspace_id", "token", "token_id", "owner", "jwt"}``).
- :func:`use_local_identity` / :func:`user_jwt`: the functions trust a test-only HS256 issuer.
- :func:`api_principal` / :func:`dataset_principal`: the authorizer's output, for events sent
  straight to a function (``rest_event(..., principal)``) with no authorizer in between.
"""

from __future__ import annotations

from typing import Any

from drgero.core.ids import new_id
from drgero.identity.credentials import issue_api_token
from drgero.identity.principal import ALL_SCOPES, Principal, PrincipalKind
from drgero.workspaces.membership import create_workspace
from localcloud.identity import local_identity_env, mint_jwt

from .aws import table_of

TEST_JWT_SECRET = "test-dev-issuer-secret-0123456789abcdef"  # noqa: S105 - a test-only HS256 secret
# Provider URLs that can never reach the internet: nothing answers on port 9 of loopback.
UNREACHABLE_PROVIDERS_ENV = {
    "DRGERO_PROVIDERS__OPENROUTER_BASE_URL": "http://127.0.0.1:9/api/v1",
    "DRGERO_PROVIDERS__HUGGINGFACE_ENDPOINT": "http://127.0.0.1:9",
}


def use_local_identity(aws: Any, **extra_env: str) -> None:
    """Makes the functions trust the dev issuer (TEST_JWT_SECRET) and keeps provider URLs off
    the internet. Call before the first invoke of a test (functions load lazily)."""
    aws.functions.extra_env.update(local_identity_env(TEST_JWT_SECRET))
    aws.functions.extra_env.update(UNREACHABLE_PROVIDERS_ENV)
    aws.functions.extra_env.update(extra_env)


def user_jwt(sub: str, email: str = "", **kw: Any) -> str:
    return mint_jwt(TEST_JWT_SECRET, sub=sub, email=email, **kw)


def new_workspace(
    aws: Any, name: str = "", owner: str = "", email: str = "", plan: str | None = None, openrouter: bool = True
) -> dict[str, str]:
    """A workspace as ``drgero local`` seeds one (localcloud.identity.seed_workspace): the
    owner ``owner`` (default ``user-<name>``) and an owner API token with every scope, on
    ``plan`` (default: the settings' default plan), and (``openrouter``) the OpenRouter
    integration with the sandbox's key, as the local seed gives it (leaderboard creation needs
    it). The name defaults to a fresh one, so workspaces of one test never share an owner."""
    name = name or f"ws-{new_id('ws')[-8:]}"
    owner = owner or f"user-{name}"
    email = email or f"{owner}@example.com"
    table = table_of(aws)
    workspace = create_workspace(table, aws.settings, owner, name, email=email, plan=plan)
    secret, record = issue_api_token(table, workspace["id"], "owner (every scope)", ALL_SCOPES, created_by=owner)
    if openrouter:
        from drgero.identity.integrations import put_integration

        from .sandbox import SANDBOX_KEY

        put_integration(aws.settings, aws.clients, workspace["id"], "openrouter", SANDBOX_KEY)
    return {
        "workspace_id": workspace["id"],
        "token": secret,
        "token_id": record["id"],
        "owner": owner,
        "jwt": user_jwt(owner, email),
    }


def api_principal(workspace_id: str, scopes=ALL_SCOPES, token_id: str | None = None) -> Principal:
    return Principal(
        kind=PrincipalKind.API_TOKEN,
        workspace_id=workspace_id,
        scopes=frozenset(scopes),
        token_id=token_id or new_id("tok"),
    )


def dataset_principal(workspace_id: str, leaderboard_id: str, token_id: str | None = None) -> Principal:
    return Principal(
        kind=PrincipalKind.DATASET_TOKEN,
        workspace_id=workspace_id,
        token_id=token_id or new_id("dst"),
        leaderboard_id=leaderboard_id,
    )
