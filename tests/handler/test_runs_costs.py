"""Money in runs through the real handlers: an unknown cost is null end to end (ranking row,
run record, per-row results, traces), never 0; the run's total is candidates + judge; ranking
rows and the verdict name the models."""

from __future__ import annotations

import pytest

from tests.support.runs import Driver, attach, make_setup

EXACT = "sandbox/arithmetic-exact"
OFF = "sandbox/off-by-one"


def test_unknown_cost_is_null_end_to_end(aws, sandbox):
    setup = make_setup(aws, sandbox, toys=(OFF,), n_rows=6)
    # A custom endpoint without a price: its calls have no known cost.
    custom = attach(setup, {"platform": "custom", "url": f"{sandbox}/custom/openai", "model": "house-model"})
    run_id = setup.start()
    driver = Driver(aws)
    driver.drain()
    run = setup.run(run_id)
    assert run["status"] == "completed"
    rows = {r["model_id"]: r for r in run["ranking"]["rows"]}
    assert rows[custom]["score"] == 1.0 and rows[custom]["cost_usd"] is None
    assert rows[custom]["cost_per_row_usd"] is None and rows[custom]["cost_unknown_rows"] == 6
    assert rows[setup.models[OFF]]["cost_usd"] > 0
    assert run["cost_usd"] is None and run["total_cost_usd"] is None
    assert run["cost_known_usd"] == pytest.approx(rows[setup.models[OFF]]["cost_usd"])
    status, results = setup.api("GET", f"/api/runs/{run_id}/results?model_id={custom}")
    assert status == 200
    assert all(e["results"][0]["cost_usd"] is None for e in results["rows"])
    traces = [t for t in driver.traces() if t.get("run_id") == run_id]
    custom_shards = [t for t in traces if (t.get("model") or {}).get("id") == custom]
    assert custom_shards and all(t.get("cost_usd") is None for t in custom_shards)
    assert next(t for t in traces if t["name"] == "run completed").get("cost_usd") is None


def test_known_costs_add_up_and_rows_carry_names(aws, sandbox):
    setup = make_setup(aws, sandbox, toys=(EXACT, OFF), n_rows=30)
    run_id = setup.start()
    Driver(aws).drain()
    run = setup.run(run_id)
    low, high = run["estimated_range_seconds"]
    assert 1 <= low <= run["estimated_seconds"] <= high
    rows = {r["model_id"]: r for r in run["ranking"]["rows"]}
    assert run["cost_usd"] == pytest.approx(sum(r["cost_usd"] for r in rows.values()))
    assert run["judge_cost_usd"] == 0.0 and run["total_cost_usd"] == pytest.approx(run["cost_usd"])
    for toy in (EXACT, OFF):
        assert rows[setup.models[toy]]["name"] == toy and rows[setup.models[toy]]["platform"] == "openrouter"
    assert run["ranking"]["verdict"].startswith(f"{EXACT} is significantly better than {OFF}")
    assert setup.models[EXACT] not in run["ranking"]["verdict"]
    status, ranking = setup.api("GET", f"/api/leaderboards/{setup.leaderboard_id}/ranking")
    assert status == 200 and {r["name"] for r in ranking["rows"]} == {EXACT, OFF}
    assert ranking["verdict"].startswith(EXACT)
