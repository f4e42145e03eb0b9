"""/api/leaderboards through the real api handler: validation, tenancy, scopes, plan limits."""

from __future__ import annotations

import pytest

from drgero.identity.principal import Principal, PrincipalKind
from tests.support.aws import table_of
from tests.support.handlers import api
from tests.support.identity import api_principal, dataset_principal, new_workspace

VALID = {
    "name": "Support answers",
    "prompt": 'Answer as JSON {"answer": ...}:\n{input}',
    "dataset": {
        "mode": "PUSH",
        "max_samples": 5000,
        "daily_limit": 1000,
        "monthly_limit": 20000,
        "consolidate_every_events": 100,
        "consolidate_every_hours": 6,
        "end_date": "2030-01-31",
    },
    "evaluation": {"type": "judge", "judge_model": "openai/gpt-4o-mini", "rubric": "Correct and polite."},
    "schedule": {"cron": "0 3 * * *"},
    "selection": {"strategy": "ranking_winner"},
}


@pytest.fixture
def ws(aws) -> str:
    return new_workspace(aws, plan="pro")["workspace_id"]


def test_create_and_read_back(aws, ws):
    status, created = api(aws, "POST", "/api/leaderboards", api_principal(ws), VALID)
    assert status == 201, created
    for field in (
        "id",
        "name",
        "prompt",
        "dataset",
        "evaluation",
        "schedule",
        "selection",
        "models",
        "traces_url",
        "created_at",
    ):
        assert field in created
    assert created["dataset"]["end_date"] == "2030-01-31T23:59:59Z"
    assert created["dataset"]["auto_limit"] is True
    assert created["models"] == []
    assert created["traces_url"].endswith(f"/api/traces?leaderboard_id={created['id']}")
    status, read = api(aws, "GET", f"/api/leaderboards/{created['id']}", api_principal(ws))
    assert (status, read) == (200, created)
    status, listing = api(aws, "GET", "/api/leaderboards", api_principal(ws))
    assert [lb["id"] for lb in listing["leaderboards"]] == [created["id"]]


def test_minimal_push_leaderboard_gets_defaults(aws, ws):
    status, created = api(
        aws, "POST", "/api/leaderboards", api_principal(ws), {"name": "n", "prompt": "p", "dataset": {"mode": "push"}}
    )
    assert status == 201, created
    assert created["dataset"]["mode"] == "PUSH"
    assert created["evaluation"] == {"type": "exact"}
    assert created["schedule"] is None
    assert created["selection"] == {"strategy": "ranking_winner"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": None}, "name"),
        ({"prompt": ""}, "prompt"),
        ({"prompt": 42}, "prompt"),
        ({"dataset": {"mode": "STREAM"}}, "dataset"),
        ({"dataset": {"mode": "PUSH", "daily_limit": 0}}, "dataset.PUSH.daily_limit"),
        ({"dataset": {"mode": "PUSH", "max_samples": -5}}, "dataset.PUSH.max_samples"),
        ({"dataset": {"mode": "PUSH", "daily_limit": 10, "monthly_limit": 5}}, "dataset.PUSH"),
        ({"dataset": {"mode": "PUSH", "end_date": "not a date"}}, "dataset.PUSH.end_date"),
        ({"dataset": {"mode": "PUSH", "surprise": 1}}, "dataset.PUSH.surprise"),
        ({"dataset": {"mode": "GET"}}, "dataset.GET.url"),
        ({"dataset": "PUSH"}, "dataset"),
        ({"evaluation": {"type": "vibes"}}, "evaluation"),
        ({"evaluation": {"type": "judge", "judge_model": ""}}, "evaluation.judge.judge_model"),
        ({"schedule": "daily"}, "schedule"),
        ({"selection": {"strategy": "manual"}}, "selection"),
        ({"unknown_field": True}, "unknown_field"),
    ],
)
def test_invalid_leaderboards_are_400_naming_the_field(aws, ws, change, field):
    body = {**VALID, **change}
    status, answer = api(aws, "POST", "/api/leaderboards", api_principal(ws), body)
    assert status == 400, answer
    assert answer["error"]["code"] == "invalid_request"
    assert any(d["field"].startswith(field) for d in answer["error"]["details"]), answer["error"]["details"]
    assert list(table_of(aws).query_all(f"WS#{ws}", "LB#")) == []


def test_body_that_is_not_an_object(aws, ws):
    for body in ([1, 2], "text", None):
        status, answer = api(aws, "POST", "/api/leaderboards", api_principal(ws), body)
        assert status == 400, answer


def test_patch_changes_given_fields_only(aws, ws):
    p = api_principal(ws)
    _, created = api(aws, "POST", "/api/leaderboards", p, VALID)
    status, patched = api(aws, "PATCH", f"/api/leaderboards/{created['id']}", p, {"name": "Renamed", "schedule": None})
    assert status == 200, patched
    assert patched["name"] == "Renamed"
    assert patched["schedule"] is None
    assert patched["prompt"] == VALID["prompt"]
    status, answer = api(
        aws,
        "PATCH",
        f"/api/leaderboards/{created['id']}",
        p,
        {"dataset": {"mode": "GET", "url": "hf://datasets/a/b/c.jsonl"}},
    )
    assert (status, answer["error"]["code"]) == (409, "dataset_mode_change")
    status, answer = api(
        aws, "PATCH", f"/api/leaderboards/{created['id']}", p, {"dataset": {"mode": "PUSH", "daily_limit": -1}}
    )
    assert status == 400


def test_delete_on_a_paid_plan(aws, ws):
    p = api_principal(ws)
    _, created = api(aws, "POST", "/api/leaderboards", p, VALID)
    status, _ = api(aws, "DELETE", f"/api/leaderboards/{created['id']}", p)
    assert status == 204
    assert api(aws, "GET", f"/api/leaderboards/{created['id']}", p)[0] == 404
    assert list(table_of(aws).query_all(f"LB#{created['id']}")) == []


def test_free_plan_limits_count_and_locks_deletion(aws):
    ws = new_workspace(aws, plan="free")["workspace_id"]
    p = api_principal(ws)
    cap = aws.settings.plans.free_max_leaderboards
    ids = []
    for _ in range(cap):
        status, created = api(aws, "POST", "/api/leaderboards", p, VALID)
        assert status == 201, created
        ids.append(created["id"])
    status, answer = api(aws, "POST", "/api/leaderboards", p, VALID)
    assert (status, answer["error"]["code"]) == (403, "plan_limit")
    status, answer = api(aws, "DELETE", f"/api/leaderboards/{ids[0]}", p)
    assert (status, answer["error"]["code"]) == (403, "plan_limit")
    assert api(aws, "GET", f"/api/leaderboards/{ids[0]}", p)[0] == 200


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [("GET", "", None), ("PATCH", "", {"name": "stolen"}), ("DELETE", "", None)],
)
def test_other_workspace_sees_nothing(aws, ws, method, suffix, body):
    _, created = api(aws, "POST", "/api/leaderboards", api_principal(ws), VALID)
    intruder = new_workspace(aws, plan="pro")["workspace_id"]
    status, answer = api(aws, method, f"/api/leaderboards/{created['id']}{suffix}", api_principal(intruder), body)
    assert (status, answer["error"]["code"]) == (404, "not_found")
    assert api(aws, "GET", "/api/leaderboards", api_principal(intruder))[1] == {"leaderboards": []}
    assert api(aws, "GET", f"/api/leaderboards/{created['id']}", api_principal(ws))[1] == created


@pytest.mark.parametrize(
    ("method", "path", "scope"),
    [
        ("POST", "/api/leaderboards", "leaderboards:write"),
        ("GET", "/api/leaderboards", "leaderboards:read"),
        ("GET", "/api/leaderboards/{id}", "leaderboards:read"),
        ("PATCH", "/api/leaderboards/{id}", "leaderboards:write"),
        ("DELETE", "/api/leaderboards/{id}", "leaderboards:write"),
    ],
)
def test_scopes_and_credentials(aws, ws, method, path, scope):
    _, created = api(aws, "POST", "/api/leaderboards", api_principal(ws), VALID)
    path = path.format(id=created["id"])
    body = VALID if method == "POST" else ({"name": "x"} if method == "PATCH" else None)
    others = {"leaderboards:read", "leaderboards:write", "runs:write"} - {scope}
    status, answer = api(aws, method, path, api_principal(ws, scopes=others), body)
    assert (status, answer["error"]["code"]) == (403, "insufficient_scope")
    assert answer["error"]["details"]["required_scope"] == scope
    assert api(aws, method, path, None, body)[0] == 401
    # A dataset token is for push/status/consolidate only.
    assert api(aws, method, path, dataset_principal(ws, created["id"]), body)[0] == 403
    allowed = api(aws, method, path, api_principal(ws, scopes={scope}), body)[0]
    assert allowed in {200, 201, 204}


def test_member_user_session_can_manage_leaderboards(aws, ws):
    user = Principal(
        kind=PrincipalKind.USER,
        workspace_id=ws,
        scopes=frozenset({"leaderboards:read", "leaderboards:write"}),
        user_id="u1",
        role="member",
    )
    assert api(aws, "POST", "/api/leaderboards", user, VALID)[0] == 201


def test_openapi_describes_leaderboard_and_dataset_routes_including_push(aws):
    status, document = api(aws, "GET", "/openapi.json", None)
    assert status == 200
    paths = document["paths"]
    assert {"post", "get"} <= set(paths["/api/leaderboards"])
    assert {"get", "patch", "delete"} <= set(paths["/api/leaderboards/{id}"])
    assert "get" in paths["/v1/leaderboard/{id}/dataset/status"]
    assert "post" in paths["/v1/leaderboard/{id}/dataset/consolidate"]
    assert "post" in paths["/v1/leaderboard/{id}/dataset/tokens"]
    push = paths["/v1/leaderboard/{id}/dataset/push"]["post"]
    assert {"202", "400", "413", "429"} <= set(push["responses"])
    assert any(p["name"] == "Idempotency-Key" for p in push["parameters"])
    assert "PushRow" in document["components"]["schemas"]
