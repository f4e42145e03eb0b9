"""One pending invitation per user and workspace, exact under concurrency: racing invitations
of the same user meet on one key, and the conditional put lets exactly one through (a
check-then-write would let every racer in). A declined invitation can be sent again."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from drgero.core.errors import ApiError
from drgero.workspaces import invitations
from tests.support.identity import new_workspace, use_local_identity


def test_racing_invitations_of_one_user_leave_exactly_one_pending(aws, monkeypatch):
    use_local_identity(aws)
    # The worst interleaving, made certain: every racer passed the "already invited?" read
    # before any of them wrote. Only the write itself may decide.
    monkeypatch.setattr(invitations, "_indexed", lambda *_args, **_kwargs: [])
    ws = new_workspace(aws, "alpha")["workspace_id"]
    table = aws.clients.table

    def invite(i: int):
        try:
            return invitations.invite_user(table, aws.settings, ws, "racer", "member", f"admin-{i}", "owner")
        except ApiError as err:
            assert (err.status, err.code) == (409, "already_invited")
            return None

    with ThreadPoolExecutor(12) as pool:
        sent = [r for r in pool.map(invite, range(24)) if r is not None]
    assert len(sent) == 1
    monkeypatch.undo()
    pending = invitations.pending_for(table, "racer", "")
    assert [p["id"] for p in pending] == [sent[0]["id"]]

    invitations.decline(table, sent[0]["id"], "racer", "")
    again = invitations.invite_user(table, aws.settings, ws, "racer", "admin", "admin-x", "owner")
    assert [p["role"] for p in invitations.pending_for(table, "racer", "")] == ["admin"]
    assert again["state"] == "pending"
