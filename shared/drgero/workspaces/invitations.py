"""Membership by consent: invitations a user answers with their own session.

An admin adding a user by id (``POST /api/workspaces/{ws}/members``) only creates a pending
invitation for that user id; the user sees it (``GET /api/invitations``) and accepts or
declines it by id. Invitations by email (``POST .../invitations``, with a one-time code) are
listed and answered the same way by a session whose verified email is the invited one. Only
an acceptance (:func:`drgero.workspaces.membership.join`, one conditional transaction on the
invitation still being pending) creates a membership, so nobody is made a member - let alone
an owner - of a workspace they did not agree to join.

Items: the invitation ``WS#{ws}`` / ``INVITE#{id}`` carries gsi1 keys while pending
(``USER#{user}`` or ``INVITEE#{sha256(email)}`` / ``INVITE#{ws}#{id}``); answering it
(accepted, declined, revoked) removes them in the same update, so the index holds exactly
the pending invitations. Duplicate pending invitations of one user to one workspace are
refused by a read first; losing that race only leaves two pending invitations, of which
the second to be accepted answers 409 ``already_member``.
"""

from __future__ import annotations

import hashlib
import time

from botocore.exceptions import ClientError

from drgero.core.errors import ApiError, conflict
from drgero.core.settings import Settings
from drgero.store.keys import (
    invitation_key,
    invite_code_key,
    invitee_email_index_pk,
    invitee_index_pk,
    invitee_index_sk,
    invitee_index_sk_prefix,
    workspace_key,
)
from drgero.store.table import Condition, MetadataTable, is_conditional_failure
from drgero.workspaces import membership


def _not_found() -> ApiError:
    return ApiError(404, "invitation_not_found", "No such invitation (or it was already answered).")


def invite_user(
    table: MetadataTable,
    settings: Settings,
    workspace_id: str,
    user_id: str,
    role: str,
    invited_by: str,
    actor_role: str,
    email: str = "",
    now: float | None = None,
) -> dict:
    """A pending invitation of ``user_id`` (202 at the API): no membership until they accept."""
    membership._check_role(role)
    membership._require_owner_for(actor_role, role)
    now = time.time() if now is None else now
    if membership.get_member(table, workspace_id, user_id):
        raise conflict("already_member", "This user is already a member of the workspace.")
    if any(_live(item, now) for item in _indexed(table, invitee_index_pk(user_id), workspace_id)):
        raise conflict("already_invited", "This user already has a pending invitation to the workspace.")
    # One invitation item per (workspace, user): its id derives from the pair, so two racing
    # invitations meet on one key and the conditional put below lets exactly one through. A
    # new invitation replaces one that was answered or has expired.
    invitation_id = "inv_" + hashlib.sha256(f"{workspace_id}|{user_id}".encode()).hexdigest()[:26]
    pk, sk = invitation_key(workspace_id, invitation_id)
    invite = {
        "pk": pk,
        "sk": sk,
        "gsi1pk": invitee_index_pk(user_id),
        "gsi1sk": invitee_index_sk(workspace_id, invitation_id),
        "invitation_id": invitation_id,
        "workspace_id": workspace_id,
        "invitee_user_id": user_id,
        "email": email.strip().lower(),
        "role": role,
        "state": "pending",
        "invited_by": invited_by,
        "created_at": now,
        "invite_expires_at": now + settings.auth.invitation_ttl_seconds,
    }
    try:
        table.put(
            invite,
            condition=Condition(
                "attribute_not_exists(pk) OR #state <> :pending OR invite_expires_at <= :now",
                names={"#state": "state"},
                values={":pending": "pending", ":now": now},
            ),
        )
    except ClientError as exc:
        if not is_conditional_failure(exc):
            raise
        raise conflict("already_invited", "This user already has a pending invitation to the workspace.") from exc
    return membership.public_invitation(invite)


def pending_for(table: MetadataTable, user_id: str, email: str, now: float | None = None) -> list[dict]:
    """The signed-in user's pending, unexpired invitations (to their user id, or to their
    verified email), each with the workspace's name and who invited them."""
    now = time.time() if now is None else now
    found = [item for item in _mine(table, user_id, email) if _live(item, now)]
    out = []
    for item in sorted(found, key=lambda i: i.get("created_at", 0)):
        workspace = table.get(*workspace_key(item["workspace_id"])) or {}
        out.append(
            {
                **membership.public_invitation(item),
                "workspace_name": workspace.get("name", ""),
                "invited_by": item.get("invited_by", ""),
            }
        )
    return out


def accept(
    table: MetadataTable, settings: Settings, invitation_id: str, user_id: str, email: str, now: float | None = None
) -> dict:
    invite = _find_mine(table, invitation_id, user_id, email)
    return membership.join(table, invite, user_id, email, now=now, max_workspaces=settings.auth.max_workspaces_per_user)


def decline(table: MetadataTable, invitation_id: str, user_id: str, email: str, now: float | None = None) -> dict:
    now = time.time() if now is None else now
    invite = _find_mine(table, invitation_id, user_id, email)
    membership.check_invitee(invite, user_id, email)
    _answer(table, invite, "declined", user_id, now)
    return {**membership.public_invitation(invite), "state": "declined"}


def revoke(table: MetadataTable, workspace_id: str, invitation_id: str, actor_role: str, actor: str) -> None:
    """An admin takes back a pending invitation of their workspace (an owner's, by an owner)."""
    invite = table.get(*invitation_key(workspace_id, invitation_id))
    if not invite:
        raise _not_found()
    membership._require_owner_for(actor_role, invite["role"])
    if invite.get("state") != "pending":
        raise conflict("invitation_answered", f"This invitation was already {invite.get('state')}.")
    _answer(table, invite, "revoked", actor, time.time())


def _answer(table: MetadataTable, invite: dict, state: str, actor: str, now: float) -> None:
    ops: list[dict] = [
        {
            "update": invitation_key(invite["workspace_id"], invite["invitation_id"]),
            **membership.answered(state, actor, now),
        }
    ]
    if invite.get("code_hash"):  # the one-time code dies with the invitation
        ops.append({"delete": invite_code_key(invite["code_hash"])})
    try:
        table.transact(ops)
    except ClientError as exc:  # only "no longer pending" is mapped; others re-raised
        if is_conditional_failure(exc):
            raise conflict("invitation_answered", "This invitation was answered meanwhile.") from exc
        raise


def _find_mine(table: MetadataTable, invitation_id: str, user_id: str, email: str) -> dict:
    """The pending invitation ``invitation_id`` addressed to this user, read consistently;
    anybody else's (or an unknown id) is a 404 that reveals nothing."""
    if not invitation_id.startswith("inv_") or len(invitation_id) > 64:
        raise _not_found()
    for indexed in _mine(table, user_id, email):
        if indexed.get("invitation_id") == invitation_id:
            invite = table.get(*invitation_key(indexed["workspace_id"], invitation_id))
            if invite and invite.get("state") == "pending":
                return invite
    raise _not_found()


def _mine(table: MetadataTable, user_id: str, email: str) -> list[dict]:
    items = list(_indexed(table, invitee_index_pk(user_id))) if user_id else []
    if email:  # only a verified email reaches the principal
        items += [i for i in _indexed(table, invitee_email_index_pk(email)) if not i.get("invitee_user_id")]
    return items


def _indexed(table: MetadataTable, index_pk: str, workspace_id: str = "") -> list[dict]:
    return list(table.query_all(index_pk, invitee_index_sk_prefix(workspace_id), index="gsi1"))


def _live(item: dict, now: float) -> bool:
    return item.get("state") == "pending" and now < item.get("invite_expires_at", 0)
