"""The whole loop: a real run (the runs pipeline on the sandbox) ranks the candidates and moves
production; inference then answers with the winner, and falls back along that ranking."""

from __future__ import annotations

import json

from drgero.identity.credentials import issue_api_token
from tests.support.events import rest_event
from tests.support.runs import Driver, make_setup
from tests.support.sandbox import sandbox_control

EXACT, COIN, OFF = "sandbox/arithmetic-exact", "sandbox/coin-flip-half", "sandbox/off-by-one"


def _infer(aws, setup, secret, body) -> tuple[int, dict]:
    # As API Gateway sends it: the route has no authorizer, the function checks the token.
    event = rest_event(
        "POST",
        f"/v1/leaderboard/{setup.leaderboard_id}/inference",
        body,
        headers={"Authorization": f"Bearer {secret}"},
        resource="/v1/leaderboard/{id}/inference",
        path_parameters={"id": setup.leaderboard_id},
    )
    answer = aws.functions.invoke("InferenceFunction", event)
    return answer["statusCode"], json.loads(answer["body"])


def test_a_completed_run_makes_its_winner_the_production_model(aws, sandbox):
    aws.functions.extra_env["DRGERO_INFERENCE__TARGET_CACHE_SECONDS"] = "0"
    setup = make_setup(aws, sandbox)
    secret, _token = issue_api_token(setup.table, setup.workspace_id, "app", ["inference"])
    status, before = _infer(aws, setup, secret, {"input": "6 * 7"})
    assert status == 409 and before["error"]["code"] == "no_production_model"

    status, started = setup.api("POST", f"/api/leaderboards/{setup.leaderboard_id}/runs")
    assert status == 202, started
    driver = Driver(aws)
    driver.drain()
    assert setup.run(started["run_id"])["status"] == "completed"

    status, answer = _infer(aws, setup, secret, {"input": "6 * 7"})
    assert status == 200, answer
    assert answer["output"] == "42"
    assert answer["model"]["id"] == setup.models[EXACT]
    assert answer["cost_usd"] > 0  # the sandbox reports usage.cost like OpenRouter

    # The failure policy follows the same ranking: with fallback on, the runner-up answers.
    status, _ = setup.api(
        "PATCH", f"/api/leaderboards/{setup.leaderboard_id}", {"inference": {"fallback": True, "max_fallbacks": 1}}
    )
    assert status == 200
    sandbox_control(sandbox, model=EXACT, fail_next=10)
    status, answer = _infer(aws, setup, secret, {"input": "6 * 7"})
    assert status == 200, answer
    assert answer["fallback_from"][0]["id"] == setup.models[EXACT]
    assert answer["model"]["id"] == setup.models[COIN]  # rank 2 of the run


def _values(value) -> list[float]:
    return value if isinstance(value, list) else [value]


def _metric_blobs(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.startswith('{"_aws"')]


def test_runs_and_inference_publish_the_dashboard_metrics(aws, sandbox, capsys):
    # The operations dashboard (template.yaml OperationsDashboard) plots these: run durations,
    # inference latency percentiles and spend per hour.
    aws.functions.extra_env["DRGERO_INFERENCE__TARGET_CACHE_SECONDS"] = "0"
    setup = make_setup(aws, sandbox)
    secret, _token = issue_api_token(setup.table, setup.workspace_id, "app", ["inference"])
    status, started = setup.api("POST", f"/api/leaderboards/{setup.leaderboard_id}/runs")
    assert status == 202, started
    capsys.readouterr()
    Driver(aws).drain()
    run_blobs = _metric_blobs(capsys.readouterr().out)
    durations = [v for b in run_blobs if "RunDurationSeconds" in b for v in _values(b["RunDurationSeconds"])]
    assert len(durations) == 1 and durations[0] >= 0, durations  # once per run
    assert any(b.get("SpendUsd") for b in run_blobs)
    status, answer = _infer(aws, setup, secret, {"input": "6 * 7"})
    assert status == 200, answer
    [served] = [b for b in _metric_blobs(capsys.readouterr().out) if "InferenceLatencyMs" in b]
    assert _values(served["SpendUsd"])[0] > 0 and _values(served["InferenceLatencyMs"])[0] >= 0
    units = {m["Name"]: m["Unit"] for m in served["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert units["InferenceLatencyMs"] == "Milliseconds"
