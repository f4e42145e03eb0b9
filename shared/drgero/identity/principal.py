"""Who is calling: the principal the authorizer puts into API Gateway's request context.

API Gateway only carries flat string/number/boolean values in ``requestContext.authorizer``,
so a Principal round-trips through ``to_context()`` / ``from_context()`` with scopes as one
space-separated string.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from drgero.core.errors import ApiError


class Scope(StrEnum):
    LEADERBOARDS_READ = "leaderboards:read"
    LEADERBOARDS_WRITE = "leaderboards:write"
    RUNS_WRITE = "runs:write"
    INFERENCE = "inference"
    TRACES_READ = "traces:read"
    MODELS_WRITE = "models:write"
    ADMIN = "admin"


ALL_SCOPES: frozenset[str] = frozenset(s.value for s in Scope)


class PrincipalKind(StrEnum):
    API_TOKEN = "api_token"  # noqa: S105 - a kind name, not a secret
    DATASET_TOKEN = "dataset_token"  # noqa: S105 - a kind name, not a secret
    USER = "user"


@dataclass(frozen=True)
class Principal:
    kind: PrincipalKind
    workspace_id: str
    scopes: frozenset[str] = field(default_factory=frozenset)
    token_id: str = ""
    leaderboard_id: str = ""  # only for dataset (hpd_) tokens
    user_id: str = ""
    role: str = ""  # only for user sessions
    email: str = ""  # only for user sessions, and only when the issuer verified it
    # Only for user sessions without a resolved workspace (workspace_id == ""): why not.
    # "none" (member of no workspace yet), "ambiguous" (several; X-Workspace-Id missing),
    # "not_member" (X-Workspace-Id names a workspace the user is not a member of).
    no_workspace_reason: str = ""

    def to_context(self) -> dict[str, str]:
        return {
            "kind": self.kind.value,
            "workspace_id": self.workspace_id,
            "scopes": " ".join(sorted(self.scopes)),
            "token_id": self.token_id,
            "leaderboard_id": self.leaderboard_id,
            "user_id": self.user_id,
            "role": self.role,
            "email": self.email,
            "no_workspace_reason": self.no_workspace_reason,
        }

    @classmethod
    def from_context(cls, context: dict | None, require_workspace: bool = True) -> Principal:
        """Rebuild the principal from ``requestContext.authorizer``; 401 if there is none.

        Only a user session may lack a workspace (a new user creating one, or accepting an
        invitation), and only routes that ask for ``require_workspace=False`` accept it; a
        workspace-less principal never carries scopes, so it can reach nothing else."""
        if not context or not context.get("kind"):
            raise ApiError(401, "unauthorized", "Missing or invalid credentials.")
        try:
            kind = PrincipalKind(context["kind"])
        except ValueError as exc:
            raise ApiError(401, "unauthorized", "Missing or invalid credentials.") from exc
        workspace_id = str(context.get("workspace_id") or "")
        if not workspace_id and kind is not PrincipalKind.USER:
            raise ApiError(401, "unauthorized", "Missing or invalid credentials.")
        principal = cls(
            kind=kind,
            workspace_id=workspace_id,
            scopes=frozenset(str(context.get("scopes", "")).split()) if workspace_id else frozenset(),
            token_id=str(context.get("token_id", "")),
            leaderboard_id=str(context.get("leaderboard_id", "")),
            user_id=str(context.get("user_id", "")),
            role=str(context.get("role", "")) if workspace_id else "",
            email=str(context.get("email", "")),
            no_workspace_reason=str(context.get("no_workspace_reason", "")) if not workspace_id else "",
        )
        if require_workspace:
            principal.require_workspace()
        return principal

    def require_workspace(self) -> None:
        """Refuses a user session that has no workspace resolved, saying what to do."""
        if self.workspace_id:
            return
        if self.no_workspace_reason == "ambiguous":
            raise ApiError(
                400,
                "workspace_required",
                "You belong to several workspaces; send the X-Workspace-Id header to pick one.",
            )
        if self.no_workspace_reason == "not_member":
            raise ApiError(404, "not_found", "Workspace not found.")
        raise ApiError(
            403,
            "no_workspace",
            "You are not a member of any workspace yet: create one (POST /api/workspaces) or accept an invitation.",
        )

    def require_scope(self, scope: Scope | str) -> None:
        """403 ``insufficient_scope`` naming the scope the call needs."""
        if str(scope) not in self.scopes:
            raise ApiError(
                403,
                "insufficient_scope",
                f"This credential lacks the '{scope}' scope.",
                {"required_scope": str(scope)},
            )
