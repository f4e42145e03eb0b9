"""Runs routes: tenant isolation (another workspace's run or leaderboard is a 404), scopes
(403 naming the missing scope), malformed input (400, never 500), selection strategies."""

from __future__ import annotations

import pytest

from tests.support.identity import api_principal, new_workspace
from tests.support.runs import Driver, make_setup

EXACT = "sandbox/arithmetic-exact"
OFF = "sandbox/off-by-one"


@pytest.fixture
def finished(aws, sandbox):
    setup = make_setup(aws, sandbox, toys=(EXACT, OFF), n_rows=6)
    run_id = setup.start()
    Driver(aws).drain()
    return setup, run_id


def routes(setup, run_id: str) -> list[tuple[str, str, object, str]]:
    lb = setup.leaderboard_id
    return [
        ("POST", f"/api/leaderboards/{lb}/runs", None, "runs:write"),
        ("GET", f"/api/leaderboards/{lb}/runs", None, "leaderboards:read"),
        ("GET", f"/api/leaderboards/{lb}/ranking", None, "leaderboards:read"),
        ("PUT", f"/api/leaderboards/{lb}/selection", {"strategy": "ranking_winner"}, "leaderboards:write"),
        ("GET", f"/api/runs/{run_id}", None, "leaderboards:read"),
        ("POST", f"/api/runs/{run_id}/cancel", None, "runs:write"),
        ("GET", f"/api/runs/{run_id}/reviews", None, "leaderboards:read"),
        ("POST", f"/api/runs/{run_id}/reviews", {"grades": []}, "runs:write"),
    ]


def test_another_workspace_gets_404_on_every_route(aws, finished):
    setup, run_id = finished
    stranger = api_principal(new_workspace(aws, plan="pro")["workspace_id"])
    for method, path, body, _scope in routes(setup, run_id):
        status, answer = setup.api(method, path, body, stranger)
        assert status == 404, (method, path, answer)
        assert answer["error"]["code"] == "not_found"
        assert run_id not in str(answer) or method == "GET"


def test_missing_scope_is_403_naming_it(aws, finished):
    setup, run_id = finished
    for method, path, body, scope in routes(setup, run_id):
        others = {"leaderboards:read", "leaderboards:write", "runs:write", "admin"} - {scope}
        status, answer = setup.api(method, path, body, api_principal(setup.workspace_id, scopes=others))
        assert status == 403, (method, path, answer)
        assert answer["error"]["details"]["required_scope"] == scope


@pytest.mark.parametrize(
    "body",
    [
        {"model_ids": "all"},
        {"model_ids": [1, 2]},
        {"model_ids": ["a", "a"]},
        {"unknown": 1},
        [1],
        {"model_ids": ["x" * 101, "y"]},
    ],
)
def test_malformed_start_bodies_are_400(aws, sandbox, body):
    setup = make_setup(aws, sandbox, toys=(EXACT, OFF), n_rows=2)
    status, answer = setup.api("POST", f"/api/leaderboards/{setup.leaderboard_id}/runs", body)
    assert status == 400, answer


def test_malformed_review_and_selection_bodies_are_400(aws, finished):
    setup, run_id = finished
    for body in ({"grades": "x"}, {"grades": [{"item_id": "../etc", "grade": 1}]}, {"grades": [{"grade": 1}]},
                 {"grades": [{"item_id": "0-0123456789ab", "grade": "five"}]}):  # fmt: skip
        status, answer = setup.api("POST", f"/api/runs/{run_id}/reviews", body)
        assert status == 400, (body, answer)
    for body in ({"strategy": "manual"}, {"strategy": "best"}, {"strategy": "manual", "model_id": 3}):
        status, answer = setup.api("PUT", f"/api/leaderboards/{setup.leaderboard_id}/selection", body)
        assert status == 400, (body, answer)
    status, answer = setup.api("GET", f"/api/runs/{run_id}/reviews?page=-1")
    assert status == 400
    status, answer = setup.api("GET", f"/api/runs/{'x' * 300}")
    assert status == 404


def test_reviews_of_a_non_human_run_are_409_and_finished_runs_cannot_be_cancelled(aws, finished):
    setup, run_id = finished
    status, answer = setup.api("GET", f"/api/runs/{run_id}/reviews")
    assert status == 409 and answer["error"]["code"] == "not_human_evaluation"
    status, answer = setup.api("POST", f"/api/runs/{run_id}/cancel")
    assert status == 409 and answer["error"]["code"] == "run_finished"


def test_manual_selection_pins_production_and_runs_never_move_it(aws, finished):
    setup, run_id = finished
    lb = setup.leaderboard_id
    status, ranking = setup.api("GET", f"/api/leaderboards/{lb}/ranking")
    assert ranking["production"]["model_id"] == setup.models[EXACT]
    status, answer = setup.api("PUT", f"/api/leaderboards/{lb}/selection", {"strategy": "manual", "model_id": "mdl_x"})
    assert status == 409 and answer["error"]["code"] == "model_not_attached"
    status, answer = setup.api(
        "PUT", f"/api/leaderboards/{lb}/selection", {"strategy": "manual", "model_id": setup.models[OFF]}
    )
    assert status == 200 and answer["production"] == {"model_id": setup.models[OFF], "strategy": "manual"}
    setup.start()
    Driver(aws).drain()
    status, ranking = setup.api("GET", f"/api/leaderboards/{lb}/ranking")
    assert ranking["run_id"] != run_id and ranking["winner_model_id"] == setup.models[EXACT]
    assert ranking["production"]["model_id"] == setup.models[OFF]  # pinned: the run did not move it
    status, answer = setup.api("PUT", f"/api/leaderboards/{lb}/selection", {"strategy": "ranking_winner"})
    assert status == 200 and answer["production"]["model_id"] == setup.models[EXACT]
    assert answer["production"]["run_id"] == ranking["run_id"]
