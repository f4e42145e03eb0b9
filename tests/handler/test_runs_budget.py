"""A run started with a budgeted API token is charged to its budget (drgero.runs.charging):
the worst case is reserved at start (402 before anything is created when it does not fit),
the known cost of candidate calls is settled at the end, a run that never called is released.
User sessions have no budget: their runs reserve nothing."""

from __future__ import annotations

from drgero.identity.credentials import MICRO, get_api_token, issue_api_token
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
