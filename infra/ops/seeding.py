"""A workspace with its owner and an owner API token with every scope: what ``drgero bootstrap``
creates in a real deployment, and what the local cloud seeds (localcloud.seed) the same way."""

from __future__ import annotations

from drgero.core.settings import Settings
from drgero.identity import credentials
from drgero.identity.principal import ALL_SCOPES
from drgero.store.table import MetadataTable
from drgero.workspaces import membership as workspaces


def seed_workspace(
    table: MetadataTable,
    settings: Settings,
    name: str,
    owner_user_id: str = "",
    owner_email: str = "",
    token_name: str = "owner (every scope)",  # noqa: S107 - a display name, not a secret
    plan: str | None = None,
) -> dict[str, str]:
    """A workspace (on ``plan``, default ``plans.default_plan``), its owner member (if a user id
    is given) and an owner API token with every scope. Returns ``{"workspace_id", "token",
    "token_id"}``; the token is shown only here."""
    workspace = workspaces.create_workspace(table, settings, owner_user_id, name, email=owner_email, plan=plan)
    secret, record = credentials.issue_api_token(
        table, workspace["id"], token_name, ALL_SCOPES, created_by=owner_user_id or "bootstrap"
    )
    return {"workspace_id": workspace["id"], "token": secret, "token_id": record["id"]}
