"""GET /api/runs/{id}/compare/{other}: two real runs of one leaderboard before and after a
prompt change, with known regressed rows; refusals (other leaderboard, other workspace, a run
not finished)."""

from __future__ import annotations

from tests.support.identity import api_principal, new_workspace
from tests.support.runs import Driver, attach, make_setup, push_rows, rows

EXACT = "sandbox/arithmetic-exact"
ECHO = "sandbox/echo"
OFF = "sandbox/off-by-one"


def two_runs(aws, sandbox):
    setup = make_setup(aws, sandbox, toys=(EXACT, ECHO, OFF), n_rows=0)
    push_rows(setup, rows(6) + [{"id": "h1", "input": "hello", "output": "hello"},
                                {"id": "h2", "input": "hello", "output": "hello"}])  # fmt: skip
    before = setup.start()
    Driver(aws).drain()
    # The prompt change: the echo model now repeats "Q: hello" and fails the rows it passed.
    status, answer = setup.api("PATCH", f"/api/leaderboards/{setup.leaderboard_id}", {"prompt": "Q: {input}"})
    assert status == 200, answer
    after = setup.start()
    Driver(aws).drain()
    return setup, before, after


def test_prompt_change_shows_the_regressed_rows_and_the_paired_test(aws, sandbox):
    setup, before, after = two_runs(aws, sandbox)
    status, answer = setup.api("GET", f"/api/runs/{after}/compare/{before}")
    assert status == 200, answer
    assert answer["then_run_id"] == before and answer["now_run_id"] == after and answer["rows_shared"] == 8
    models = {m["model_id"]: m for m in answer["models"]}
    echo = models[setup.models[ECHO]]
    assert echo["name"] == ECHO and echo["score_then"] == 0.25 and echo["score_now"] == 0.0
    assert echo["difference"] == -0.25 and echo["regressed"] == 2 and echo["improved"] == 0
    assert echo["test"] == "mcnemar_exact" and echo["n_pairs"] == 8
    assert echo["p_value"] == 0.5 and echo["significant"] is False  # 2 discordant rows: 2 x (1/2)^2
    exact = models[setup.models[EXACT]]
    assert exact["difference"] == 0.0 and exact["regressed"] == exact["improved"] == 0 and exact["p_value"] == 1.0
    assert [(r["row_id"], r["model_id"], r["change"]) for r in answer["rows"]] == [
        ("h1", setup.models[ECHO], "regressed"),
        ("h2", setup.models[ECHO], "regressed"),
    ]
    h1 = answer["rows"][0]
    assert h1["then"]["output"] == "hello" and h1["then"]["outcome"] == "pass" and h1["then"]["prompt"] == "hello"
    assert h1["now"]["output"] == "Q: hello" and h1["now"]["outcome"] == "fail" and h1["now"]["prompt"] == "Q: hello"
    # The same answer whichever order the URL names the runs; paging and filters.
    status, swapped = setup.api("GET", f"/api/runs/{before}/compare/{after}")
    assert swapped["then_run_id"] == before and swapped["rows"] == answer["rows"]
    status, first = setup.api("GET", f"/api/runs/{after}/compare/{before}?limit=1")
    assert [r["row_id"] for r in first["rows"]] == ["h1"] and first["next_cursor"] == "1"
    status, second = setup.api("GET", f"/api/runs/{after}/compare/{before}?limit=1&cursor=1")
    assert [r["row_id"] for r in second["rows"]] == ["h2"] and second["next_cursor"] is None
    status, improved = setup.api("GET", f"/api/runs/{after}/compare/{before}?change=improved")
    assert status == 200 and improved["rows"] == []
    status, only = setup.api("GET", f"/api/runs/{after}/compare/{before}?model_id={setup.models[EXACT]}")
    assert status == 200 and only["rows"] == []


def test_refusals(aws, sandbox):
    setup, before, after = two_runs(aws, sandbox)
    elsewhere = make_setup(aws, sandbox, n_rows=6)
    other_run = elsewhere.start()
    Driver(aws).drain()
    # make_setup makes a workspace of its own: a run of another workspace is a 404.
    status, answer = setup.api("GET", f"/api/runs/{after}/compare/{other_run}")
    assert status == 404 and answer["error"]["code"] == "not_found"
    status, answer = setup.api(
        "GET", f"/api/runs/{after}/compare/{before}", principal=api_principal(new_workspace(aws)["workspace_id"])
    )
    assert status == 404
    # Another leaderboard of the same workspace: 409.
    status, created = setup.api("POST", "/api/leaderboards", {"name": "other", "prompt": "{input}",
                                                              "dataset": {"mode": "PUSH"}})  # fmt: skip
    assert status == 201, created
    same_ws_other_lb = type(setup)(aws, sandbox, setup.workspace_id, created["id"])
    push_rows(same_ws_other_lb, rows(6))
    for toy in (EXACT, OFF):
        attach(same_ws_other_lb, {"platform": "openrouter", "model": toy})
    third = same_ws_other_lb.start()
    status, answer = setup.api("GET", f"/api/runs/{after}/compare/{third}")
    assert status == 409 and answer["error"]["code"] == "runs_not_comparable"
    status, answer = setup.api("GET", f"/api/runs/{third}/compare/{third}")
    assert status == 409 and answer["error"]["code"] == "run_not_ranked"  # queued: no ranking yet
    status, answer = setup.api("GET", f"/api/runs/{after}/compare/{before}?model_id=mdl_nope")
    assert status == 400 and answer["error"]["code"] == "unknown_models"
