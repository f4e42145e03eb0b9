"""Authorization checks every function runs on the principal (the authorizer only authenticates).

- Scopes: ``principal.require_scope(scope)`` -> 403 ``insufficient_scope`` naming the scope.
- Tenancy: a resource is always read through a key holding ``principal.workspace_id``; a
  path that names another workspace gets 404 (:func:`require_same_workspace`).
- Dataset (``hpd_``) tokens carry no scopes at all; :func:`require_leaderboard_access` is the
  one door they pass, and only for exactly their own leaderboard.
"""

from __future__ import annotations

import hmac

from drgero.core.errors import ApiError
from drgero.identity.principal import ALL_SCOPES, Principal, PrincipalKind, Scope

ROLES = ("owner", "admin", "member")

# What a member's role allows (the contract: owner/admin ~ all scopes; member: read + write
# leaderboards/runs/models, no admin pages).
ROLE_SCOPES: dict[str, frozenset[str]] = {
    "owner": ALL_SCOPES,
    "admin": ALL_SCOPES,
    "member": frozenset(
        {
            Scope.LEADERBOARDS_READ.value,
            Scope.LEADERBOARDS_WRITE.value,
            Scope.RUNS_WRITE.value,
            Scope.MODELS_WRITE.value,
            Scope.TRACES_READ.value,
            Scope.INFERENCE.value,
        }
    ),
}

# What a dataset token may do on its own leaderboard: push and consolidate (write), status (read).
DATASET_TOKEN_SCOPES = frozenset({Scope.LEADERBOARDS_READ.value, Scope.LEADERBOARDS_WRITE.value})


def scopes_for_role(role: str) -> frozenset[str]:
    return ROLE_SCOPES.get(role, frozenset())


def _same_id(a: str, b: str) -> bool:
    """Exact, constant-time id equality (a prefix-sharing id is a different id)."""
    return bool(a) and bool(b) and hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


def require_same_workspace(principal: Principal, workspace_id: str) -> None:
    """404 for a workspace id in a path that is not the caller's own (never reveal it exists)."""
    principal.require_workspace()
    if not _same_id(principal.workspace_id, workspace_id):
        raise ApiError(404, "not_found", "Workspace not found.")


def require_admin(principal: Principal) -> None:
    principal.require_scope(Scope.ADMIN)


def require_user_session(principal: Principal) -> None:
    """Some actions belong to a person, not a script (creating a workspace, accepting an invite)."""
    if principal.kind is not PrincipalKind.USER or not principal.user_id:
        raise ApiError(
            403,
            "user_session_required",
            "This action needs a signed-in user's session (a JWT), not an API or dataset token.",
        )


def require_inference_caller(principal: Principal) -> None:
    """The ``inference`` scope in a workspace; never a dataset (``hpd_``) token: 403."""
    principal.require_workspace()
    if principal.kind is PrincipalKind.DATASET_TOKEN:
        raise ApiError(
            403,
            "insufficient_scope",
            "A dataset push token may only push rows, read the dataset status and trigger consolidation.",
            {"required_scope": Scope.INFERENCE.value},
        )
    principal.require_scope(Scope.INFERENCE)


def require_leaderboard_access(
    principal: Principal, leaderboard_id: str, scope: Scope | str, allow_dataset_token: bool = True
) -> None:
    """May ``principal`` act with ``scope`` on leaderboard ``leaderboard_id``?

    - Dataset tokens: only on exactly their own leaderboard (else 404, as if it did not exist),
      only for ``leaderboards:read``/``leaderboards:write``, and only where the route allows
      dataset tokens at all (push, status, consolidate: ``allow_dataset_token=True``).
    - API tokens and users: the scope (403 ``insufficient_scope``).

    This checks the credential only. The caller must still load the leaderboard through its
    workspace key (``WS#{principal.workspace_id}`` / ``LB#{leaderboard_id}``) and answer 404
    when it is not there: that is what keeps another workspace's leaderboard invisible.
    """
    principal.require_workspace()
    if principal.kind is PrincipalKind.DATASET_TOKEN:
        if not _same_id(principal.leaderboard_id, leaderboard_id):
            raise ApiError(404, "not_found", "Leaderboard not found.")
        if not allow_dataset_token or str(scope) not in DATASET_TOKEN_SCOPES:
            raise ApiError(
                403,
                "insufficient_scope",
                "A dataset push token may only push rows, read the dataset status and trigger consolidation.",
                {"required_scope": str(scope)},
            )
        return
    principal.require_scope(scope)
