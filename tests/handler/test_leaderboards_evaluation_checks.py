"""Configurations refused when they are written: the evaluation goes through the runs' parser
at POST/PATCH /api/leaderboards (400 invalid_evaluation with field details), a judge without
judge_model gets the configured default judge, OpenRouter is required where the product docs
say so (409 integration_required, at creation and at run start, before any call), and the
PUSH gate says how many rows there are and how to consolidate."""

from __future__ import annotations

import pytest

from tests.support.handlers import api
from tests.support.identity import api_principal, new_workspace
from tests.support.runs import Driver, make_setup
from tests.support.sandbox import sandbox_requests

BODY = {"name": "checks", "prompt": "{input}", "dataset": {"mode": "PUSH"}}


@pytest.mark.parametrize(
    ("evaluation", "field"),
    [
        ({"type": "exact", "mode": "nubmer"}, "evaluation.mode"),
        ({"type": "human", "scale": "0-7"}, "evaluation.scale"),
        ({"type": "exact", "colour": "blue"}, "evaluation.colour"),
        ({"type": "judge", "judge_model": "x/y", "scale": "1-100"}, "evaluation.scale"),
        ({"type": "judge", "judge_platform": "custom"}, "evaluation.judge_model"),
    ],
)
def test_bad_evaluations_are_refused_at_create_and_patch(aws, evaluation, field):
    principal = api_principal(new_workspace(aws)["workspace_id"])
    status, answer = api(aws, "POST", "/api/leaderboards", principal, {**BODY, "evaluation": evaluation})
    assert status == 400 and answer["error"]["code"] == "invalid_evaluation", answer
    assert field in [d["field"] for d in answer["error"]["details"]], answer
    status, created = api(aws, "POST", "/api/leaderboards", principal, BODY)
    assert status == 201
    status, answer = api(aws, "PATCH", f"/api/leaderboards/{created['id']}", principal, {"evaluation": evaluation})
    assert status == 400 and answer["error"]["code"] == "invalid_evaluation"
    status, stored = api(aws, "GET", f"/api/leaderboards/{created['id']}", principal)
    assert stored["evaluation"] == {"type": "exact"}  # nothing of the refused change was kept


def test_a_judge_without_judge_model_gets_the_default_judge(aws):
    aws.functions.extra_env["DRGERO_EVALUATION__DEFAULT_JUDGE_MODEL"] = "sandbox/default-judge"
    principal = api_principal(new_workspace(aws)["workspace_id"])
    status, created = api(aws, "POST", "/api/leaderboards", principal, {**BODY, "evaluation": {"type": "judge"}})
    assert status == 201, created
    assert created["evaluation"] == {"type": "judge", "judge_model": "sandbox/default-judge"}
    status, created = api(aws, "POST", "/api/leaderboards", principal, BODY)
    status, patched = api(
        aws, "PATCH", f"/api/leaderboards/{created['id']}", principal, {"evaluation": {"type": "judge", "rubric": "r"}}
    )
    assert status == 200 and patched["evaluation"]["judge_model"] == "sandbox/default-judge"


def test_openrouter_is_required_to_create_a_leaderboard(aws):
    principal = api_principal(new_workspace(aws, openrouter=False)["workspace_id"])
    status, answer = api(aws, "POST", "/api/leaderboards", principal, BODY)
    assert status == 409 and answer["error"]["code"] == "integration_required"
    assert "PUT /api/integrations/openrouter" in answer["error"]["message"]
    assert answer["error"]["details"]["provider"] == "openrouter"
    status, listed = api(aws, "GET", "/api/leaderboards", principal)
    assert listed["leaderboards"] == []


def test_run_start_refuses_before_any_call_without_the_openrouter_key(aws, sandbox):
    setup = make_setup(aws, sandbox, n_rows=6)
    from drgero.identity.integrations import delete_integration

    delete_integration(aws.settings, aws.clients, setup.workspace_id, "openrouter")
    before = sandbox_requests(sandbox)
    status, answer = setup.api("POST", f"/api/leaderboards/{setup.leaderboard_id}/runs")
    assert status == 409 and answer["error"]["code"] == "integration_required", answer
    assert "sandbox/arithmetic-exact" in answer["error"]["message"]
    Driver(aws).drain()
    assert sandbox_requests(sandbox) == before  # nothing was called, nothing paid
    status, history = setup.api("GET", f"/api/leaderboards/{setup.leaderboard_id}/runs")
    assert history["runs"] == []


def test_the_push_gate_says_how_many_rows_and_how_to_consolidate(aws, sandbox):
    aws.functions.extra_env["DRGERO_LIMITS__MIN_ROWS_BEFORE_MODELS"] = "100"
    setup = make_setup(aws, sandbox, toys=(), n_rows=0)
    from tests.support.handlers import push

    status, _, _ = push(
        aws, setup.leaderboard_id, setup.principal, [{"input": f"{i} + 1", "output": "x"} for i in range(7)]
    )
    assert status == 202
    status, answer = setup.api(
        "POST", f"/api/leaderboards/{setup.leaderboard_id}/models", {"platform": "openrouter", "model": "sandbox/echo"}
    )
    assert status == 409 and answer["error"]["code"] == "dataset_too_small"
    message = answer["error"]["message"]
    assert "0 consolidated row(s)" in message and "7 more accepted row(s)" in message
    assert f"POST /v1/leaderboard/{setup.leaderboard_id}/dataset/consolidate" in message
    assert answer["error"]["details"] == {"consolidated_rows": 0, "pending_rows": 7, "required_rows": 100}
