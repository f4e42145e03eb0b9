"""Workspaces, members and invitations.

A workspace's ``META`` item keeps ``owner_count``; every change that removes or demotes an
owner decrements it in the same transaction under the condition ``owner_count > 1``, so the
last owner can never be removed or demoted, even by two admins racing.

Only owners may grant or take away the owner role (an admin cannot promote themselves to
owner, nor remove an owner).
"""

from __future__ import annotations

import time
from typing import Any

from botocore.exceptions import ClientError

from drgero.core.clock import iso_epoch
from drgero.core.errors import ApiError, conflict, not_found
from drgero.core.ids import new_id
from drgero.core.settings import Settings
from drgero.identity import tokens
from drgero.identity.access import ROLES
from drgero.store.keys import (
    INVITATION_PREFIX,
    MEMBER_INDEX_SK_PREFIX,
    MEMBER_PREFIX,
    invitation_key,
    invite_code_key,
    invitee_email_index_pk,
    invitee_index_sk,
    member_index_pk,
    member_index_sk,
    member_key,
    workspace_key,
    workspace_pk,
)
from drgero.store.table import Condition, MetadataTable, is_conditional_failure

INVITE_CODE_PREFIX = "inv_"


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise ApiError(400, "invalid_request", f"Unknown role '{role}'; use one of {', '.join(ROLES)}.")


def public_workspace(item: dict, role: str = "") -> dict:
    out = {
        "id": item["workspace_id"],
        "name": item.get("name", ""),
        "plan": item.get("plan", ""),
        "created_at": iso_epoch(item.get("created_at")),
    }
    if role:
        out["role"] = role
    return out


def public_member(item: dict) -> dict:
    return {
        "user_id": item["user_id"],
        "role": item["role"],
        "email": item.get("email", ""),
        "added_at": iso_epoch(item.get("added_at")),
    }


def _member_item(workspace_id: str, user_id: str, role: str, email: str, now: float) -> dict:
    pk, sk = member_key(workspace_id, user_id)
    return {
        "pk": pk,
        "sk": sk,
        "gsi1pk": member_index_pk(user_id),
        "gsi1sk": member_index_sk(workspace_id),
        "workspace_id": workspace_id,
        "user_id": user_id,
        "role": role,
        "email": email,
        "added_at": now,
    }


def _owner_delta(workspace_id: str, delta: int) -> dict:
    """Moves META.owner_count; taking an owner away requires another owner to remain."""
    op: dict[str, Any] = {
        "update": workspace_key(workspace_id),
        "expression": "SET owner_count = owner_count + :d",
        "values": {":d": delta},
    }
    if delta < 0:
        op["condition"] = Condition("owner_count > :one", values={":one": 1})
    else:
        op["condition"] = Condition("attribute_exists(pk)")
    return op


# ---------------------------------------------------------------------------- workspaces
def create_workspace(
    table: MetadataTable,
    settings: Settings,
    user_id: str,
    name: str,
    email: str = "",
    plan: str | None = None,
    now: float | None = None,
) -> dict:
    """Creates a workspace with ``user_id`` as its owner."""
    now = time.time() if now is None else now
    if user_id and len(memberships_of(table, user_id)) >= settings.auth.max_workspaces_per_user:
        raise ApiError(
            403,
            "workspace_limit",
            f"A user may belong to at most {settings.auth.max_workspaces_per_user} workspaces.",
        )
    workspace_id = new_id("ws")
    pk, sk = workspace_key(workspace_id)
    meta = {
        "pk": pk,
        "sk": sk,
        "workspace_id": workspace_id,
        "name": name,
        "plan": plan or settings.plans.default_plan,
        "created_at": now,
        "created_by": user_id,
        "owner_count": 1 if user_id else 0,
    }
    ops: list[dict] = [{"put": meta, "condition": Condition("attribute_not_exists(pk)")}]
    if user_id:
        ops.append(
            {
                "put": _member_item(workspace_id, user_id, "owner", email, now),
                "condition": Condition("attribute_not_exists(pk)"),
            }
        )
    table.transact(ops)
    return public_workspace(meta, "owner" if user_id else "")


def get_workspace(table: MetadataTable, workspace_id: str) -> dict | None:
    return table.get(*workspace_key(workspace_id))


def memberships_of(table: MetadataTable, user_id: str) -> dict[str, str]:
    """``{workspace_id: role}`` for a user (gsi1: ``USER#{user}``)."""
    return {
        item["workspace_id"]: item["role"]
        for item in table.query_all(member_index_pk(user_id), MEMBER_INDEX_SK_PREFIX, index="gsi1")
        if item.get("sk", "").startswith(MEMBER_PREFIX)
    }


# ---------------------------------------------------------------------------- members
def list_members(table: MetadataTable, workspace_id: str) -> list[dict]:
    return [public_member(i) for i in table.query_all(workspace_pk(workspace_id), MEMBER_PREFIX)]


def get_member(table: MetadataTable, workspace_id: str, user_id: str) -> dict | None:
    return table.get(*member_key(workspace_id, user_id))


def _require_owner_for(actor_role: str, *roles: str) -> None:
    if "owner" in roles and actor_role != "owner":
        raise ApiError(403, "owner_required", "Only an owner can grant, change or remove the owner role.")


def add_member(
    table: MetadataTable,
    workspace_id: str,
    user_id: str,
    role: str,
    actor_role: str,
    email: str = "",
    now: float | None = None,
) -> dict:
    """A membership without the user's consent: for seeding and tests only. No route calls
    it; the API's ``POST .../members`` invites (drgero.workspaces.invitations)."""
    _check_role(role)
    _require_owner_for(actor_role, role)
    now = time.time() if now is None else now
    item = _member_item(workspace_id, user_id, role, email, now)
    ops: list[dict] = [{"put": item, "condition": Condition("attribute_not_exists(pk)")}]
    if role == "owner":
        ops.append(_owner_delta(workspace_id, +1))
    try:
        table.transact(ops)
    except ClientError as exc:  # only a failed condition is "already a member"
        if is_conditional_failure(exc):
            raise conflict("already_member", "This user is already a member of the workspace.") from exc
        raise
    return public_member(item)


def change_role(table: MetadataTable, workspace_id: str, user_id: str, new_role: str, actor_role: str) -> dict:
    _check_role(new_role)
    current = get_member(table, workspace_id, user_id)
    if not current:
        raise not_found("Member")
    old_role = current["role"]
    if old_role == new_role:
        return public_member(current)
    _require_owner_for(actor_role, old_role, new_role)
    ops: list[dict] = [
        {
            "update": member_key(workspace_id, user_id),
            "expression": "SET #role = :new",
            "names": {"#role": "role"},
            "values": {":new": new_role},
            "condition": Condition("#role = :old", names={"#role": "role"}, values={":old": old_role}),
        }
    ]
    if old_role == "owner":
        ops.append(_owner_delta(workspace_id, -1))
    elif new_role == "owner":
        ops.append(_owner_delta(workspace_id, +1))
    _run_owner_guarded(table, ops)
    current["role"] = new_role
    return public_member(current)


def remove_member(table: MetadataTable, workspace_id: str, user_id: str, actor_role: str) -> None:
    current = get_member(table, workspace_id, user_id)
    if not current:
        raise not_found("Member")
    _require_owner_for(actor_role, current["role"])
    ops: list[dict] = [
        {
            "delete": member_key(workspace_id, user_id),
            "condition": Condition("#role = :old", names={"#role": "role"}, values={":old": current["role"]}),
        }
    ]
    if current["role"] == "owner":
        ops.append(_owner_delta(workspace_id, -1))
    _run_owner_guarded(table, ops)


def _run_owner_guarded(table: MetadataTable, ops: list[dict]) -> None:
    try:
        table.transact(ops)
    except ClientError as exc:  # only failed conditions are mapped; others re-raised
        if not is_conditional_failure(exc):
            raise
        reasons = getattr(exc, "response", {}).get("CancellationReasons", [])
        owner_guard_failed = len(reasons) > 1 and reasons[-1].get("Code") == "ConditionalCheckFailed"
        if owner_guard_failed:
            raise conflict("last_owner", "A workspace must keep at least one owner.") from exc
        raise conflict("conflict", "The member changed meanwhile; reload and retry.") from exc


# ---------------------------------------------------------------------------- invitations
def create_invitation(
    table: MetadataTable,
    settings: Settings,
    workspace_id: str,
    email: str,
    role: str,
    invited_by: str,
    actor_role: str,
    now: float | None = None,
) -> tuple[str, dict]:
    """An invitation with a one-time code (returned once; stored only as a hash)."""
    _check_role(role)
    _require_owner_for(actor_role, role)
    now = time.time() if now is None else now
    code = INVITE_CODE_PREFIX + tokens.generate(tokens.API_TOKEN_PREFIX).split("_", 1)[1]
    code_hash = tokens.hash_secret(code)
    invitation_id = new_id("inv")
    expires = now + settings.auth.invitation_ttl_seconds
    pk, sk = invitation_key(workspace_id, invitation_id)
    invite = {
        "pk": pk,
        "sk": sk,
        "invitation_id": invitation_id,
        "workspace_id": workspace_id,
        "email": email.strip().lower(),
        "role": role,
        "state": "pending",
        "invited_by": invited_by,
        "created_at": now,
        "invite_expires_at": expires,
        "code_hash": code_hash,
        # Pending invitations are indexed for the invitee (GET /api/invitations).
        "gsi1pk": invitee_email_index_pk(email),
        "gsi1sk": invitee_index_sk(workspace_id, invitation_id),
    }
    cpk, csk = invite_code_key(code_hash)
    pointer = {
        "pk": cpk,
        "sk": csk,
        "workspace_id": workspace_id,
        "invitation_id": invitation_id,
        "invite_expires_at": expires,
        "expires_at": int(expires) + 86400,  # table TTL: DynamoDB deletes dead codes
    }
    new = Condition("attribute_not_exists(pk)")
    table.transact([{"put": invite, "condition": new}, {"put": pointer, "condition": new}])
    return code, public_invitation(invite)


def public_invitation(item: dict) -> dict:
    return {
        "id": item["invitation_id"],
        "workspace_id": item["workspace_id"],
        "email": item.get("email", ""),
        "user_id": item.get("invitee_user_id", ""),
        "role": item["role"],
        "state": item["state"],
        "created_at": iso_epoch(item.get("created_at")),
        "expires_at": iso_epoch(item.get("invite_expires_at")),
    }


def list_invitations(table: MetadataTable, workspace_id: str) -> list[dict]:
    return [public_invitation(i) for i in table.query_all(workspace_pk(workspace_id), INVITATION_PREFIX)]


def accept_invitation(
    table: MetadataTable, code: str, user_id: str, email: str, now: float | None = None, max_workspaces: int = 0
) -> dict:
    """Makes the signed-in user a member, once, if their verified email is the invited one."""
    now = time.time() if now is None else now
    if not code.startswith(INVITE_CODE_PREFIX) or len(code) > 64:
        raise ApiError(404, "invitation_not_found", "No such invitation (or it was already used).")
    code_hash = tokens.hash_secret(code)
    pointer = table.get(*invite_code_key(code_hash))
    if not pointer:
        raise ApiError(404, "invitation_not_found", "No such invitation (or it was already used).")
    invite = table.get(*invitation_key(pointer["workspace_id"], pointer["invitation_id"]))
    if not invite or invite.get("state") != "pending":
        raise ApiError(404, "invitation_not_found", "No such invitation (or it was already used).")
    return join(table, invite, user_id, email, now=now, max_workspaces=max_workspaces)


def check_invitee(invite: dict, user_id: str, email: str) -> None:
    """The invitation is this user's: addressed to their user id, or to their verified email."""
    if invite.get("invitee_user_id"):
        if invite["invitee_user_id"] != user_id:
            raise ApiError(404, "invitation_not_found", "No such invitation (or it was already used).")
        return
    if not email:
        raise ApiError(403, "email_not_verified", "Your sign-in has no verified email address to match the invitation.")
    if not tokens.secrets_equal(email.strip().lower(), invite["email"]):
        raise ApiError(403, "invitation_email_mismatch", "This invitation was sent to another email address.")


def answered(state: str, user_id: str, now: float) -> dict:
    """The update that ends a pending invitation: its state, who and when, and out of the
    invitee index. Conditional on it still being pending, so it is answered once."""
    return {
        "expression": "SET #state = :new, answered_by = :user, answered_at = :now REMOVE gsi1pk, gsi1sk",
        "names": {"#state": "state"},
        "values": {":new": state, ":user": user_id, ":now": now},
        "condition": Condition("#state = :pending", names={"#state": "state"}, values={":pending": "pending"}),
    }


def join(
    table: MetadataTable, invite: dict, user_id: str, email: str, now: float | None = None, max_workspaces: int = 0
) -> dict:
    """The invitee's own acceptance turns a pending invitation into a membership, once: the
    only way anyone but a workspace's creator becomes its member (and so its owner)."""
    now = time.time() if now is None else now
    if now >= invite["invite_expires_at"]:
        raise ApiError(410, "invitation_expired", "This invitation has expired; ask for a new one.")
    check_invitee(invite, user_id, email)
    workspace_id = invite["workspace_id"]
    if get_member(table, workspace_id, user_id):
        raise conflict("already_member", "You are already a member of this workspace.")
    if max_workspaces and len(memberships_of(table, user_id)) >= max_workspaces:
        raise ApiError(403, "workspace_limit", f"A user may belong to at most {max_workspaces} workspaces.")
    member = _member_item(
        workspace_id, user_id, invite["role"], (email or invite.get("email", "")).strip().lower(), now
    )
    ops: list[dict] = [
        {"update": invitation_key(workspace_id, invite["invitation_id"]), **answered("accepted", user_id, now)},
        {"put": member, "condition": Condition("attribute_not_exists(pk)")},
    ]
    if invite.get("code_hash"):  # the code dies with the invitation, in the same transaction
        ops.insert(0, {"delete": invite_code_key(invite["code_hash"])})
    if invite["role"] == "owner":
        ops.append(_owner_delta(workspace_id, +1))
    try:
        table.transact(ops)
    except ClientError as exc:  # a lost race (answered twice) is a 404; others re-raised
        if is_conditional_failure(exc):
            raise ApiError(404, "invitation_not_found", "No such invitation (or it was already used).") from exc
        raise
    return {
        "workspace": public_workspace(get_workspace(table, workspace_id) or {"workspace_id": workspace_id}),
        **public_member(member),
    }
