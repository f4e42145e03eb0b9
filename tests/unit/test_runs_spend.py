"""A run's cost from its record (by_run of the usage report)."""

from __future__ import annotations

from drgero.runs.spend import run_cost


def test_run_cost_is_candidate_plus_judge_and_null_until_known():
    assert run_cost({"finished_at": "t", "cost_usd": 0.25, "judge_cost_usd": 0.5}) == 0.75
    assert run_cost({"finished_at": "t", "cost_usd": 0.0, "judge_cost_usd": 0.0}) == 0.0
    assert run_cost({"cost_usd": 0.25}) is None  # not finished
    assert run_cost({"finished_at": "t", "cost_usd": None, "judge_cost_usd": 0.5}) is None  # unknown
