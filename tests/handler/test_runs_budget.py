"""A run started with a budgeted API token is charged to its budget (drgero.runs.charging),
a scheduled run to the token that set the schedule (revoked / out of budget: the run fails
and the schedule pauses):
the worst case is reserved at start (402 before anything is created when it does not fit),
the known cost of candidate calls is settled at the end, a run that never called is released.
User sessions have no budget: their runs reserve nothing."""

from __future__ import annotations

import pytest

from drgero.core import queues
from drgero.identity.credentials import MICRO, get_api_token, issue_api_token, revoke_api_token
from drgero.identity.principal import ALL_SCOPES, Principal, PrincipalKind
from drgero.runs import records
from tests.support.runs import Driver, make_setup


def budgeted(setup, budget_usd: float) -> tuple[Principal, str]:
    _, record = issue_api_token(setup.table, setup.workspace_id, "ci", ALL_SCOPES, budget_usd=budget_usd)
    principal = Principal(PrincipalKind.API_TOKEN, setup.workspace_id, frozenset(ALL_SCOPES), token_id=record["id"])
    return principal, record["id"]


def token(setup, token_id: str) -> dict:
    return get_api_token(setup.table, setup.workspace_id, token_id)


def test_a_run_that_does_not_fit_the_budget_is_402_and_creates_nothing(aws, sandbox):
    setup = make_setup(aws, sandbox, n_rows=12)
    principal, token_id = budgeted(setup, 0.01)
    status, answer = setup.api("POST", f"/api/leaderboards/{setup.leaderboard_id}/runs", principal=principal)
    assert status == 402 and answer["error"]["code"] == "budget_exhausted", answer
    assert answer["error"]["details"]["required_usd"] > 0.01
    status, history = setup.api("GET", f"/api/leaderboards/{setup.leaderboard_id}/runs")
    assert history["runs"] == []
    status, lb = setup.api("GET", f"/api/leaderboards/{setup.leaderboard_id}/ranking")
    assert lb["active_run_id"] is None
    after = token(setup, token_id)
    assert after["remaining_micro_usd"] == 0.01 * MICRO and after["reserved_micro_usd"] == 0


def test_a_run_reserves_its_worst_case_then_is_charged_what_it_cost(aws, sandbox):
    setup = make_setup(aws, sandbox, n_rows=12)
    principal, token_id = budgeted(setup, 10.0)
    status, answer = setup.api("POST", f"/api/leaderboards/{setup.leaderboard_id}/runs", principal=principal)
    assert status == 202, answer
    held = token(setup, token_id)
    assert held["reserved_micro_usd"] > 0 and held["remaining_micro_usd"] == 10 * MICRO - held["reserved_micro_usd"]
    Driver(aws).drain()
    run = setup.run(answer["run_id"])
    assert run["status"] == "completed" and run["total_cost_usd"] > 0
    after = token(setup, token_id)
    assert after["reserved_micro_usd"] == 0
    assert after["spent_micro_usd"] == round(run["total_cost_usd"] * MICRO)
    assert after["remaining_micro_usd"] == 10 * MICRO - after["spent_micro_usd"]
    # The spend shows in the workspace's usage, by run and by token.
    status, usage = setup.api("GET", f"/api/workspaces/{setup.workspace_id}/usage")
    assert status == 200
    assert answer["run_id"] in str(usage) and token_id in str(usage)


def test_a_cancelled_queued_run_releases_its_hold(aws, sandbox):
    setup = make_setup(aws, sandbox, n_rows=6)
    principal, token_id = budgeted(setup, 10.0)
    status, answer = setup.api("POST", f"/api/leaderboards/{setup.leaderboard_id}/runs", principal=principal)
    assert status == 202
    status, cancelled = setup.api("POST", f"/api/runs/{answer['run_id']}/cancel")
    assert status == 202 and cancelled["status"] == "cancelled"
    Driver(aws).drain()
    after = token(setup, token_id)
    assert after["reserved_micro_usd"] == 0 and after["spent_micro_usd"] == 0
    assert after["remaining_micro_usd"] == 10 * MICRO


def test_a_user_session_run_reserves_nothing(aws, sandbox):
    setup = make_setup(aws, sandbox, n_rows=6)
    user = Principal(PrincipalKind.USER, setup.workspace_id, frozenset(ALL_SCOPES), user_id="user-x", role="owner")
    status, answer = setup.api("POST", f"/api/leaderboards/{setup.leaderboard_id}/runs", principal=user)
    assert status == 202, answer
    Driver(aws).drain()
    assert setup.run(answer["run_id"])["status"] == "completed"
    assert "reservation_id" not in records.get_run(setup.table, answer["run_id"])


def get_schedule(aws, leaderboard_id: str) -> dict | None:
    client = aws.clients.scheduler
    try:
        return client.get_schedule(Name=f"lb-{leaderboard_id}", GroupName=aws.settings.aws.schedule_group_name)
    except client.exceptions.ResourceNotFoundException:
        return None


def fire_schedule(aws, setup) -> None:
    """What EventBridge Scheduler sends to the runs queue, then the run queues drained."""
    body = {"leaderboard_id": setup.leaderboard_id, "workspace_id": setup.workspace_id, "source": "schedule"}
    queues.send(aws.clients.sqs, aws.settings.aws.runs_queue_url, body)
    Driver(aws).drain()


def test_a_scheduled_run_is_charged_to_the_token_that_set_the_schedule(aws, sandbox):
    setup = make_setup(aws, sandbox, n_rows=6)
    principal, token_id = budgeted(setup, 10.0)
    status, _ = setup.api(
        "PATCH", f"/api/leaderboards/{setup.leaderboard_id}", {"schedule": {"rate": "1 hour"}}, principal=principal
    )
    assert status == 200
    fire_schedule(aws, setup)
    status, history = setup.api("GET", f"/api/leaderboards/{setup.leaderboard_id}/runs")
    run = setup.run(history["runs"][0]["id"])
    assert run["source"] == "schedule" and run["status"] == "completed"
    assert token(setup, token_id)["spent_micro_usd"] == round(run["total_cost_usd"] * MICRO) > 0


@pytest.mark.parametrize("problem", ["budget_exhausted", "token_revoked"])
def test_a_schedule_whose_token_cannot_pay_fails_the_run_and_pauses(aws, sandbox, problem):
    setup = make_setup(aws, sandbox, n_rows=6)
    principal, token_id = budgeted(setup, 0.01 if problem == "budget_exhausted" else 10.0)
    status, _ = setup.api(
        "PATCH", f"/api/leaderboards/{setup.leaderboard_id}", {"schedule": {"rate": "1 hour"}}, principal=principal
    )
    assert status == 200 and get_schedule(aws, setup.leaderboard_id) is not None
    if problem == "token_revoked":
        revoke_api_token(setup.table, setup.workspace_id, token_id)
    fire_schedule(aws, setup)
    status, history = setup.api("GET", f"/api/leaderboards/{setup.leaderboard_id}/runs")
    assert [(r["source"], r["status"]) for r in history["runs"]] == [("schedule", "failed")]
    error = history["runs"][0]["error"]
    assert error["code"] == problem and "schedule is paused" in error["message"]
    status, lb = setup.api("GET", f"/api/leaderboards/{setup.leaderboard_id}")
    assert lb["schedule"]["enabled"] is False and get_schedule(aws, setup.leaderboard_id) is None
    assert token(setup, token_id)["spent_micro_usd"] == 0
    fire_schedule(aws, setup)  # a message already in flight finds the schedule paused: one more refusal at most
    status, lb = setup.api("GET", f"/api/leaderboards/{setup.leaderboard_id}/ranking")
    assert lb["active_run_id"] is None


def test_a_schedule_set_by_a_user_session_is_not_charged(aws, sandbox):
    setup = make_setup(aws, sandbox, n_rows=6)
    user = Principal(PrincipalKind.USER, setup.workspace_id, frozenset(ALL_SCOPES), user_id="user-x", role="owner")
    status, _ = setup.api(
        "PATCH", f"/api/leaderboards/{setup.leaderboard_id}", {"schedule": {"rate": "1 hour"}}, principal=user
    )
    assert status == 200
    fire_schedule(aws, setup)
    status, history = setup.api("GET", f"/api/leaderboards/{setup.leaderboard_id}/runs")
    assert history["runs"][0]["status"] == "completed"
    assert "reservation_id" not in records.get_run(setup.table, history["runs"][0]["id"])
