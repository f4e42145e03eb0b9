"""The whole loop offline: pushed rows -> fine-tune on the sandbox backend -> the tuned model,
attached as a ``drgero`` candidate, is ranked by a real run above its base model."""

from __future__ import annotations

from tests.support.fine_tunes import BASE, make_fine_tune_setup
from tests.support.runs import Driver


def test_the_tuned_model_is_a_candidate_and_outranks_its_base(aws, sandbox):
    ft = make_fine_tune_setup(aws, sandbox)
    status, job = ft.create()
    assert status == 201, job
    done = ft.poll_until_done(job["id"])
    assert done["status"] == "succeeded"

    status, candidate = ft.api(
        "POST", f"/api/leaderboards/{ft.lb}/models", {"platform": "drgero", "model_id": ft.model_id}
    )
    assert status == 201, candidate
    assert candidate["platform"] == "drgero" and candidate["config"]["model"] == done["fine_tuned_model"]

    run_id = ft.setup.start()
    driver = Driver(aws)
    driver.drain()
    run = ft.setup.run(run_id)
    assert run["status"] == "completed", run
    rows = {row["model_id"]: row for row in run["ranking"]["rows"]}
    tuned, base = rows[candidate["id"]], rows[ft.setup.models[BASE]]
    # The base toy is never right; the tuned toy answers its training rows exactly.
    assert base["score"] == 0.0 and tuned["score"] == 1.0
    assert tuned["rank"] == 1 and base["rank"] == 2 and tuned["n"] == 12 and tuned["errors"] == 0
    assert run["ranking"]["winner_model_id"] == candidate["id"]
