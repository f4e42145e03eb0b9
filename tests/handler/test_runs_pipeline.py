"""Runs end to end through the real handlers (API, run_fanout, evaluate, judge) on the embedded
AWS, with candidate models on the sandbox provider: exact-match runs, duplicate deliveries of
every message, a crash between the output write and the shard's completion, cancel, a 429
storm, fewer than 2 models, one active run at a time."""

from __future__ import annotations

import pytest

from tests.support.runs import Driver, make_setup
from tests.support.sandbox import sandbox_control, sandbox_requests

EXACT = "sandbox/arithmetic-exact"
COIN = "sandbox/coin-flip-half"
OFF = "sandbox/off-by-one"


def ranking_by_model(run: dict) -> dict[str, dict]:
    return {row["model_id"]: row for row in run["ranking"]["rows"]}


def test_exact_run_end_to_end_ranks_and_moves_production(aws, sandbox):
    setup = make_setup(aws, sandbox)
    status, answer = setup.api("POST", f"/api/leaderboards/{setup.leaderboard_id}/runs")
    assert status == 202 and answer["run_id"].startswith("run_") and answer["estimated_seconds"] >= 1
    run_id = answer["run_id"]
    assert setup.run(run_id)["status"] == "queued"

    driver = Driver(aws)
    driver.drain()
    assert driver.failures == 0
    run = setup.run(run_id)
    assert run["status"] == "completed" and run["partial"] is False and run["source"] == "manual"
    assert run["progress"]["shards_done"] == run["progress"]["shards_total"] == 3 * 3  # 12 rows / 5 per shard
    rows = ranking_by_model(run)
    exact, coin, off = rows[setup.models[EXACT]], rows[setup.models[COIN]], rows[setup.models[OFF]]
    assert exact["rank"] == 1 and exact["score"] == 1.0 and exact["n"] == 12 and exact["errors"] == 0
    assert off["score"] == 0.0 and off["rank"] == 3
    assert 0.0 < coin["score"] < 1.0
    assert run["ranking"]["winner_model_id"] == setup.models[EXACT]
    assert exact["latency_p50_ms"] is not None and exact["cost_usd"] > 0
    assert run["cost_usd"] == pytest.approx(sum(r["cost_usd"] for r in rows.values()))
    assert run["finished_at"] and run["execution_seconds"] >= 0
    # Snapshots: configs without secrets, the pinned dataset version.
    assert run["leaderboard_config"]["prompt"] == "{input}"
    assert {m["id"] for m in run["model_configs"]} == set(setup.models.values())
    assert run["dataset"]["version"] == 1 and run["dataset"]["rows"] == 12
    assert "sk-or" not in str(run)

    status, ranking = setup.api("GET", f"/api/leaderboards/{setup.leaderboard_id}/ranking")
    assert status == 200 and ranking["run_id"] == run_id
    assert ranking["production"]["model_id"] == setup.models[EXACT]
    assert ranking["production"]["strategy"] == "ranking_winner"
    assert ranking["active_run_id"] is None
    status, history = setup.api("GET", f"/api/leaderboards/{setup.leaderboard_id}/runs")
    assert status == 200 and [r["id"] for r in history["runs"]] == [run_id]

    traces = [t for t in driver.traces() if t.get("run_id") == run_id]
    assert traces and all(t["kind"] == "run" for t in traces)
    assert any(t["name"] == "run completed" for t in traces)


def test_fewer_than_two_models_is_409_with_a_clear_message(aws, sandbox):
    setup = make_setup(aws, sandbox, toys=(EXACT,))
    status, answer = setup.api("POST", f"/api/leaderboards/{setup.leaderboard_id}/runs")
    assert status == 409 and answer["error"]["code"] == "not_enough_models"
    assert "at least 2" in answer["error"]["message"]
    setup2 = make_setup(aws, sandbox)
    status, answer = setup2.api(
        "POST", f"/api/leaderboards/{setup2.leaderboard_id}/runs", {"model_ids": [setup2.models[EXACT]]}
    )
    assert status == 400  # the subset itself must name at least 2 models
    status, answer = setup2.api(
        "POST", f"/api/leaderboards/{setup2.leaderboard_id}/runs", {"model_ids": [setup2.models[EXACT], "mdl_nope"]}
    )
    assert status == 400 and answer["error"]["code"] == "unknown_models"


def test_only_one_active_run_and_subset_of_models(aws, sandbox):
    setup = make_setup(aws, sandbox)
    run_id = setup.start({"model_ids": [setup.models[EXACT], setup.models[OFF]]})
    status, answer = setup.api("POST", f"/api/leaderboards/{setup.leaderboard_id}/runs")
    assert status == 409 and answer["error"]["code"] == "run_in_progress"
    assert answer["error"]["details"]["active_run_id"] == run_id
    Driver(aws).drain()
    run = setup.run(run_id)
    assert run["status"] == "completed" and set(ranking_by_model(run)) == {setup.models[EXACT], setup.models[OFF]}
    assert setup.start() != run_id  # the marker was released


def test_duplicate_delivery_of_every_message_counts_nothing_twice(aws, sandbox):
    setup = make_setup(aws, sandbox)
    run_id = setup.start()
    driver = Driver(aws)
    driver.drain(duplicate=True)  # every runs/evaluate message delivered twice
    run = setup.run(run_id)
    assert run["status"] == "completed"
    assert run["progress"]["shards_done"] == run["progress"]["shards_total"]
    for row in run["ranking"]["rows"]:
        assert row["n"] == 12 and row["rows_total"] == 12 and row["not_run"] == 0
    # Redelivering every message once more after completion changes nothing.
    shards = len(list(setup.table.query_all(f"RUN#{run_id}", "SHARD#")))
    assert shards == run["progress"]["shards_total"]
    before = sandbox_requests(sandbox)
    setup.aws.clients.sqs.send_message(
        QueueUrl=aws.settings.aws.runs_queue_url,
        MessageBody=f'{{"run_id": "{run_id}", "leaderboard_id": "{setup.leaderboard_id}", '
        f'"workspace_id": "{setup.workspace_id}", "source": "manual"}}',
    )
    driver.drain()
    assert setup.run(run_id)["ranking"] == run["ranking"]
    assert sandbox_requests(sandbox) == before  # outputs were reused, no call made again


def test_crash_between_output_write_and_shard_completion_reuses_outputs(aws, sandbox, monkeypatch):
    import drgero.runs.evaluate as evaluate_module

    setup = make_setup(aws, sandbox)
    run_id = setup.start()
    driver = Driver(aws)
    driver.step("runs")
    real = evaluate_module.count_shard
    crashes = {"left": 3}

    def crashing(*args, **kwargs):
        if crashes["left"]:
            crashes["left"] -= 1
            raise RuntimeError("injected crash after the outputs were written")
        return real(*args, **kwargs)

    monkeypatch.setattr(evaluate_module, "count_shard", crashing)
    calls_before = sandbox_requests(sandbox)
    driver.drain()
    assert driver.failures == 3  # reported as batch item failures, redelivered
    run = setup.run(run_id)
    assert run["status"] == "completed"
    for row in run["ranking"]["rows"]:
        assert row["n"] == 12 and row["not_run"] == 0
    # Each row was called exactly once per model: the retried shards reused their outputs.
    assert sandbox_requests(sandbox) - calls_before == 12 * 3


def test_fan_out_failing_mid_way_is_redelivered_and_counts_every_row_once(aws, sandbox, monkeypatch):
    """The fan-out writes its shard items concurrently; one write failing fails the message,
    and the redelivered fan-out fills in the rest without resetting what was written."""
    import drgero.runs.fanout as fanout_module

    aws.functions.extra_env["DRGERO_RUNS__FANOUT_WRITE_CONCURRENCY"] = "4"
    setup = make_setup(aws, sandbox)
    run_id = setup.start()
    driver = Driver(aws)
    real = fanout_module.shard_key
    calls = {"n": 0}

    def failing_once(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("injected failure of one shard item's write")
        return real(*args, **kwargs)

    monkeypatch.setattr(fanout_module, "shard_key", failing_once)
    calls_before = sandbox_requests(sandbox)
    driver.drain()
    assert driver.failures == 1  # the fan-out message, redelivered once
    run = setup.run(run_id)
    assert run["status"] == "completed"
    assert run["progress"]["shards_done"] == run["progress"]["shards_total"]
    for row in run["ranking"]["rows"]:
        assert row["n"] == 12 and row["not_run"] == 0
    assert sandbox_requests(sandbox) - calls_before == 12 * 3


def test_cancel_mid_run_leaves_a_partial_record_and_keeps_production(aws, sandbox):
    setup = make_setup(aws, sandbox)
    run_id = setup.start()
    driver = Driver(aws)
    driver.step("runs")
    driver.step("evaluate", limit=3)  # shard 0 of each model
    status, answer = setup.api("POST", f"/api/runs/{run_id}/cancel")
    assert status == 202 and answer["status"] == "cancelling"
    calls = sandbox_requests(sandbox)
    driver.drain()
    assert sandbox_requests(sandbox) == calls  # no call started after the cancel
    run = setup.run(run_id)
    assert run["status"] == "cancelled" and run["partial"] is True
    # Progress counts what really ran: the 3 shards evaluated before the cancel, of 9.
    assert run["progress"]["shards_done"] == 3
    assert run["progress"]["shards_cancelled"] == 6
    assert run["progress"]["shards_finished"] == run["progress"]["shards_total"] == 9
    for row in run["ranking"]["rows"]:
        assert row["rows_total"] == 5 and row["not_run"] == 7
    status, ranking = setup.api("GET", f"/api/leaderboards/{setup.leaderboard_id}/ranking")
    assert ranking["production"] is None and ranking["run_id"] is None  # a cancelled run never moves it
    status, answer = setup.api("POST", f"/api/runs/{run_id}/cancel")
    assert status == 202 and answer["status"] == "cancelled"  # idempotent
    assert setup.start()  # the leaderboard is free again


def test_cancel_of_a_queued_run_is_immediate(aws, sandbox):
    setup = make_setup(aws, sandbox)
    run_id = setup.start()
    status, answer = setup.api("POST", f"/api/runs/{run_id}/cancel")
    assert status == 202 and answer["status"] == "cancelled"
    Driver(aws).drain()
    assert setup.run(run_id)["status"] == "cancelled"
    assert sandbox_requests(sandbox) == 0


def test_provider_429_storm_is_counted_as_errors_never_dropped(aws, sandbox):
    setup = make_setup(aws, sandbox)
    # Every call of the coin-flip model is rate limited, through all retries.
    sandbox_control(sandbox, model=COIN, rate_limit_next=10_000, retry_after=None)
    run_id = setup.start()
    driver = Driver(aws)
    driver.drain()
    run = setup.run(run_id)
    assert run["status"] == "completed"
    rows = ranking_by_model(run)
    coin = rows[setup.models[COIN]]
    assert coin["call_errors"] == 12 and coin["errors"] == 12 and coin["n"] == 12 and coin["score"] == 0.0
    assert rows[setup.models[EXACT]]["errors"] == 0 and rows[setup.models[EXACT]]["n"] == 12
    assert run["ranking"]["winner_model_id"] == setup.models[EXACT]


def test_run_of_an_empty_push_dataset_is_409(aws, sandbox):
    setup = make_setup(aws, sandbox, n_rows=0, toys=())
    status, answer = setup.api("POST", f"/api/leaderboards/{setup.leaderboard_id}/runs")
    assert status == 409 and answer["error"]["code"] == "not_enough_models"
