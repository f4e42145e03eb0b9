"""Judge runs graded by the sandbox's toy judge (``sandbox/judge-toy``, the local cloud's
default judge) through the real handlers: the always-right toy ranks first, the always-wrong
toy last, and no row is a judge error; on the local hub's QA sample, its rubrics count."""

from __future__ import annotations

import pytest

from drgero.identity.integrations import put_integration
from localcloud.hub.samples import qa_rows, write_samples
from tests.support.handlers import api
from tests.support.hf_server import HfServer
from tests.support.identity import api_principal, new_workspace
from tests.support.runs import Driver, Setup, attach, fast_provider_env, make_setup
from tests.support.sandbox import SANDBOX_KEY

EXACT = "sandbox/arithmetic-exact"
COIN = "sandbox/coin-flip-half"
OFF = "sandbox/off-by-one"
SAMPLES = "https://huggingface.co/datasets/drgero-samples"


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


def test_a_judge_run_on_the_hubs_short_answer_sample_uses_its_rubrics(aws, sandbox, tmp_path):
    """GET mode from the local hub's QA sample (reference answers + per-row rubrics with quoted
    phrases): the almanac toy, which knows the answers, ranks above the echo toy, which repeats
    the question; every row is judged (the rubric's phrases are checks the toy judge can do)."""
    write_samples(tmp_path)
    with HfServer(tmp_path) as hub:
        aws.functions.extra_env.update(
            {**fast_provider_env(sandbox), "DRGERO_PROVIDERS__HUGGINGFACE_ENDPOINT": hub.url}
        )
        workspace_id = new_workspace(aws, plan="pro")["workspace_id"]
        body = {
            "name": "short answers",
            "prompt": "Answer briefly.\n\n{input}",
            "dataset": {"mode": "GET", "url": f"{SAMPLES}/short-answer-qa/resolve/main/qa.jsonl"},
            "evaluation": {"type": "judge", "judge_model": "sandbox/judge-toy", "scale": "1-5"},
        }
        status, created = api(aws, "POST", "/api/leaderboards", api_principal(workspace_id), body)
        assert status == 201, created
    setup = Setup(aws, sandbox, workspace_id, created["id"])
    put_integration(aws.settings, aws.clients, workspace_id, "openrouter", SANDBOX_KEY)
    for toy in ("sandbox/almanac", "sandbox/echo"):
        setup.models[toy] = attach(setup, {"platform": "openrouter", "model": toy})
    run_id = setup.start()
    driver = Driver(aws)
    driver.drain()
    run = setup.run(run_id)
    assert run["status"] == "completed", run
    rows = run["ranking"]["rows"]
    assert [r["model_id"] for r in rows] == [setup.models["sandbox/almanac"], setup.models["sandbox/echo"]]
    assert rows[0]["score"] == 1.0 and rows[1]["score"] < 0.5
    assert all(r["judge_errors"] == 0 and r["n"] == len(qa_rows()) for r in rows), rows
