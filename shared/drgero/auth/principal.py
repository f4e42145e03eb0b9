"""Who is calling: the principal the authorizer puts into API Gateway's request context.

API Gateway only carries flat string/number/boolean values in ``requestContext.authorizer``,
so a Principal round-trips through ``to_context()`` / ``from_context()`` with scopes as one
space-separated string.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from drgero.errors import ApiError


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

    def to_context(self) -> dict[str, str]:
        return {
            "kind": self.kind.value,
            "workspace_id": self.workspace_id,
            "scopes": " ".join(sorted(self.scopes)),
            "token_id": self.token_id,
            "leaderboard_id": self.leaderboard_id,
            "user_id": self.user_id,
            "role": self.role,
        }

    @classmethod
    def from_context(cls, context: dict | None) -> Principal:
        """Rebuild the principal from ``requestContext.authorizer``; 401 if there is none."""
        if not context or not context.get("kind") or not context.get("workspace_id"):
            raise ApiError(401, "unauthorized", "Missing or invalid credentials.")
        return cls(
            kind=PrincipalKind(context["kind"]),
            workspace_id=str(context["workspace_id"]),
            scopes=frozenset(str(context.get("scopes", "")).split()),
            token_id=str(context.get("token_id", "")),
            leaderboard_id=str(context.get("leaderboard_id", "")),
            user_id=str(context.get("user_id", "")),
            role=str(context.get("role", "")),
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
