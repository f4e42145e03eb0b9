"""GET /api/workspaces/{ws}/billing and the plan-limit messages, through the real api handler:
the plan, its limits and usage for admins; 403 for members; 404 for another workspace."""

from __future__ import annotations

from drgero.identity.access import scopes_for_role
from drgero.identity.principal import Principal, PrincipalKind
from drgero.workspaces import plans
from tests.support.aws import table_of
from tests.support.handlers import api
from tests.support.identity import api_principal, new_workspace

LEADERBOARD = {"name": "billing", "prompt": "Q: {input}", "dataset": {"mode": "PUSH"}}


def _user(ws: str, role: str) -> Principal:
    return Principal(kind=PrincipalKind.USER, workspace_id=ws, scopes=scopes_for_role(role), user_id="u1", role=role)


def test_admin_sees_plan_limits_and_usage(aws):
    ws = new_workspace(aws, plan="free")["workspace_id"]
    admin = api_principal(ws)
    assert api(aws, "POST", "/api/leaderboards", admin, LEADERBOARD)[0] == 201
    status, billing = api(aws, "GET", f"/api/workspaces/{ws}/billing", _user(ws, "admin"))
    assert status == 200, billing
    cap = aws.settings.plans.free_max_leaderboards
    assert billing["workspace_id"] == ws
    assert billing["plan"] == "free"
    assert billing["limits"] == {"max_leaderboards": cap, "can_delete_leaderboards": False}
    assert billing["usage"] == {"leaderboards": 1, "leaderboards_remaining": cap - 1}
    assert f"drgero plan set --workspace {ws} --plan pro" in billing["how_to_change"]


def test_pro_plan_has_no_cap(aws):
    ws = new_workspace(aws, plan="pro")["workspace_id"]
    status, billing = api(aws, "GET", f"/api/workspaces/{ws}/billing", api_principal(ws, scopes={"admin"}))
    assert status == 200, billing
    assert billing["limits"] == {"max_leaderboards": None, "can_delete_leaderboards": True}
    assert billing["usage"] == {"leaderboards": 0, "leaderboards_remaining": None}


def test_member_is_403_and_another_workspace_404(aws):
    ws = new_workspace(aws, plan="free")["workspace_id"]
    status, answer = api(aws, "GET", f"/api/workspaces/{ws}/billing", _user(ws, "member"))
    assert (status, answer["error"]["code"]) == (403, "insufficient_scope")
    scoped = api_principal(ws, scopes={"leaderboards:read", "leaderboards:write"})
    assert api(aws, "GET", f"/api/workspaces/{ws}/billing", scoped)[0] == 403
    intruder = new_workspace(aws, plan="pro")["workspace_id"]
    status, answer = api(aws, "GET", f"/api/workspaces/{ws}/billing", api_principal(intruder))
    assert (status, answer["error"]["code"]) == (404, "not_found")


def test_plan_limit_errors_say_how_to_get_more(aws):
    """Free deletes nothing, so the error does not offer deleting; it names the command."""
    ws = new_workspace(aws, plan="free")["workspace_id"]
    p = api_principal(ws)
    ids = [
        api(aws, "POST", "/api/leaderboards", p, LEADERBOARD)[1]["id"]
        for _ in range(aws.settings.plans.free_max_leaderboards)
    ]
    status, answer = api(aws, "POST", "/api/leaderboards", p, LEADERBOARD)
    assert (status, answer["error"]["code"]) == (403, "plan_limit")
    message = answer["error"]["message"]
    assert f"drgero plan set --workspace {ws} --plan pro" in message
    assert "delete" not in message.lower() and "upgrade the plan" not in message
    status, answer = api(aws, "DELETE", f"/api/leaderboards/{ids[0]}", p)
    assert (status, answer["error"]["code"]) == (403, "plan_limit")
    assert "drgero plan set" in answer["error"]["message"]
    # After the operator's change, the same workspace works on.
    plans.set_plan(table_of(aws), ws, "pro")
    assert api(aws, "POST", "/api/leaderboards", p, LEADERBOARD)[0] == 201
    assert api(aws, "DELETE", f"/api/leaderboards/{ids[0]}", p)[0] == 204


def test_a_configured_contact_is_named(aws):
    ws = new_workspace(aws, plan="free")["workspace_id"]
    aws.settings.plans.upgrade_contact = "billing@example.com"
    try:
        assert "contact billing@example.com" in plans.how_to_change(aws.settings, ws)
    finally:
        aws.settings.plans.upgrade_contact = ""
