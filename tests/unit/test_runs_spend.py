"""by_run's merge of run records and budget counters, and a run's cost from its record."""

from __future__ import annotations

from drgero.runs.spend import merge_by_run, run_cost


def test_run_cost_is_candidate_plus_judge_and_null_until_known():
    assert run_cost({"finished_at": "t", "cost_usd": 0.25, "judge_cost_usd": 0.5}) == 0.75
    assert run_cost({"finished_at": "t", "cost_usd": 0.0, "judge_cost_usd": 0.0}) == 0.0
    assert run_cost({"cost_usd": 0.25}) is None  # not finished
    assert run_cost({"finished_at": "t", "cost_usd": None, "judge_cost_usd": 0.5}) is None  # unknown


def test_merge_keeps_budget_counters_beside_the_run_cost_and_loses_none():
    runs = [{"run_id": "run_a", "leaderboard_id": "lb", "status": "completed", "cost_usd": 1.0, "finished_at": "t"}]
    counted = [{"run_id": "run_a", "spent_usd": 0.4, "calls": 3}, {"run_id": "run_gone", "spent_usd": 2.0, "calls": 1}]
    merged = {row["run_id"]: row for row in merge_by_run(counted, runs)}
    assert merged["run_a"] == {**runs[0], "spent_usd": 0.4, "calls": 3}
    assert merged["run_gone"]["leaderboard_id"] is None and merged["run_gone"]["spent_usd"] == 2.0
    assert merge_by_run([], runs)[0]["spent_usd"] == 0.0
