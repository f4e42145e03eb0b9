"""A judge run graded by the sandbox's toy judge (``sandbox/judge-toy``, the local cloud's
default judge) through the real handlers: the always-right toy ranks first, the always-wrong
toy last, and no row is a judge error."""

from __future__ import annotations

import pytest

from tests.support.runs import Driver, make_setup

EXACT = "sandbox/arithmetic-exact"
COIN = "sandbox/coin-flip-half"
OFF = "sandbox/off-by-one"


@pytest.mark.parametrize("scale", ["0-10", "1-5"])
def test_the_toy_judge_ranks_right_first_and_wrong_last_with_no_judge_errors(aws, sandbox, scale):
    evaluation = {"type": "judge", "judge_model": "sandbox/judge-toy", "judge_platform": "openrouter", "scale": scale}
    setup = make_setup(aws, sandbox, toys=(EXACT, COIN, OFF), n_rows=12, evaluation=evaluation)
    run_id = setup.start()
    driver = Driver(aws)
    driver.drain()
    assert driver.failures == 0
    run = setup.run(run_id)
    assert run["status"] == "completed" and run["evaluation_type"] == "judge", run
    rows = run["ranking"]["rows"]
    by_model = {r["model_id"]: r for r in rows}
    exact, coin, off = (by_model[setup.models[t]] for t in (EXACT, COIN, OFF))
    assert [r["model_id"] for r in rows][0] == setup.models[EXACT]
    assert [r["model_id"] for r in rows][-1] == setup.models[OFF]
    assert run["ranking"]["winner_model_id"] == setup.models[EXACT]
    assert exact["score"] == 1.0 and off["score"] == 0.0
    assert 0.0 < coin["score"] < 1.0  # right on some rows only, as its answers are
    for row in rows:
        assert row["judge_errors"] == 0 and row["n"] == 12, row
    # The toy judge is priced like any OpenRouter model: judge cost is counted, apart.
    assert run["judge_cost_usd"] > 0
