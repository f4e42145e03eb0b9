"""GET /api/workspaces/{ws}/usage counts run spend: ``by_run`` from the run records (each
run's candidate + judge cost), for runs no budget counter saw (user sessions, tokens
without a budget)."""

from __future__ import annotations

import pytest

from tests.support.handlers import api
from tests.support.identity import api_principal, new_workspace
from tests.support.runs import Driver, make_setup


@pytest.fixture
def setup(aws, sandbox):
    return make_setup(aws, sandbox, toys=("sandbox/arithmetic-exact", "sandbox/off-by-one"), n_rows=6)


def test_by_run_lists_every_finished_run_with_its_cost(aws, setup):
    driver = Driver(aws)
    finished = []
    for _ in range(3):
        run_id = setup.start()
        driver.drain()
        finished.append(setup.run(run_id))
    queued = setup.start()  # not fanned out yet: listed, cost unknown
    status, usage = setup.api("GET", f"/api/workspaces/{setup.workspace_id}/usage")
    assert status == 200, usage
    rows = {row["run_id"]: row for row in usage["by_run"]}
    assert set(rows) == {r["id"] for r in finished} | {queued}
    for run in finished:
        row = rows[run["id"]]
        assert run["status"] == "completed" and run["cost_usd"] > 0
        assert row["leaderboard_id"] == setup.leaderboard_id
        assert row["cost_usd"] == pytest.approx(run["cost_usd"] + (run["judge_cost_usd"] or 0.0))
        assert row["finished_at"] == run["finished_at"]
    assert rows[queued]["cost_usd"] is None and rows[queued]["finished_at"] is None
    assert usage["by_run"][0]["run_id"] == queued  # unfinished first, then newest finished


def test_another_workspace_sees_none_of_them(aws, setup):
    setup.start()
    Driver(aws).drain()
    other = new_workspace(aws, plan="pro")["workspace_id"]
    status, usage = api(aws, "GET", f"/api/workspaces/{other}/usage", api_principal(other))
    assert (status, usage["by_run"]) == (200, [])
    status, answer = api(aws, "GET", f"/api/workspaces/{setup.workspace_id}/usage", api_principal(other))
    assert (status, answer["error"]["code"]) == (404, "not_found")
