"""The fine-tuning loop over real HTTP against the local cloud (the demo's fine-tune step):
push, consolidate, fine-tune on the sandbox backend, attach, run, the tuned toy wins."""

from __future__ import annotations

import httpx
import pytest

from localcloud.fine_tune_tour import fine_tune_tour

pytestmark = pytest.mark.slow


def test_the_fine_tune_tour_runs_offline(local_cloud):
    with httpx.Client(timeout=30, trust_env=False) as http:
        result = fine_tune_tour(local_cloud, http, show=lambda _title, _response: None)
    assert result["job"]["status"] == "succeeded" and result["job"]["training"]["validation_rows"] > 0
    rows = {row["model_id"]: row for row in result["run"]["ranking"]["rows"]}
    tuned = rows[result["candidate_id"]]
    # Right on exactly the rows it was trained on; the held-out validation rows it answers like
    # its base toy (off by one, never right).
    training = result["job"]["training"]
    assert tuned["score"] == pytest.approx(training["rows"] / (training["rows"] + training["validation_rows"]))
    assert tuned["rank"] == 1 and tuned["n"] == training["rows"] + training["validation_rows"]
