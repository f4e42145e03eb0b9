"""Fine-tunes reach the leaderboard: a ``drgero`` candidate is evaluated at its model's current
version (or the version it pinned), the run names the version it evaluated, and production
serves exactly the version a run ranked (or a manual pin), never a newer one no run has seen."""

from __future__ import annotations

import json

import pytest

from drgero.identity.credentials import issue_api_token
from tests.support.events import rest_event
from tests.support.fine_tunes import BASE, make_fine_tune_setup
from tests.support.runs import Driver


@pytest.fixture
def ft(aws, sandbox):
    aws.functions.extra_env["DRGERO_INFERENCE__TARGET_CACHE_SECONDS"] = "0"
    return make_fine_tune_setup(aws, sandbox)


def _infer(ft, text: str) -> dict:
    secret, _token = issue_api_token(ft.setup.table, ft.setup.workspace_id, "app", ["inference"])
    event = rest_event(
        "POST", f"/v1/leaderboard/{ft.lb}/inference", {"input": text}, headers={"Authorization": f"Bearer {secret}"},
        resource="/v1/leaderboard/{id}/inference", path_parameters={"id": ft.lb},
    )  # fmt: skip
    answer = ft.aws.functions.invoke("InferenceFunction", event)
    assert answer["statusCode"] == 200, answer
    return json.loads(answer["body"])


def _run(ft) -> dict:
    run_id = ft.setup.start()
    Driver(ft.aws).drain()
    run = ft.setup.run(run_id)
    assert run["status"] == "completed", run
    return run


def _fine_tune(ft) -> int:
    status, job = ft.create()
    assert status == 201, job
    done = ft.poll_until_done(job["id"])
    assert done["status"] == "succeeded", done
    return done["model_version"]


def _new_manual_version(ft, sandbox: str, toy: str) -> int:
    endpoint = {
        "url": f"{sandbox}/v1/chat/completions",
        "model": toy,
        "auth": {"kind": "bearer", "secret": "sk-anything"},
    }
    status, model = ft.api("PATCH", f"/api/models/{ft.model_id}", {"endpoint": endpoint, "probe": False})
    assert status == 200, model
    return model["current_version"]


def _production(ft) -> dict:
    status, ranking = ft.api("GET", f"/api/leaderboards/{ft.lb}/ranking")
    assert status == 200, ranking
    return ranking["production"]


def test_the_next_run_ranks_the_tuned_version_and_production_serves_what_was_ranked(ft, sandbox):
    status, candidate = ft.api(
        "POST", f"/api/leaderboards/{ft.lb}/models", {"platform": "drgero", "model_id": ft.model_id}
    )
    assert status == 201, candidate
    assert candidate["pinned_version"] is None  # follows the model's current version
    assert candidate["name"] == "arith-bot"  # the model's name, not its version-1 endpoint's
    cid, base = candidate["id"], ft.setup.models[BASE]

    first = _run(ft)  # version 1 is the base toy behind the model's endpoint
    assert {m["id"]: m.get("version") for m in first["model_configs"]} == {cid: 1, base: None}

    tuned = _fine_tune(ft)
    assert tuned == 2
    second = _run(ft)  # attached once, before the fine-tune: still ranked at the new version
    configs = {m["id"]: m for m in second["model_configs"]}
    assert configs[cid]["version"] == 2 and configs[cid]["config"]["model"].startswith("sandbox/ft-")
    rows = {row["model_id"]: row for row in second["ranking"]["rows"]}
    assert rows[cid]["model_version"] == 2 and "model_version" not in rows[base]
    assert rows[cid]["score"] == 1.0 and rows[base]["score"] == 0.0
    assert _production(ft) | {"since": None} == {
        "strategy": "ranking_winner", "model_id": cid, "model_version": 2, "run_id": second["id"],
        "run_started_at": second["started_at"], "since": None,
    }  # fmt: skip
    assert _infer(ft, "3 + 10")["output"] == "13"  # the tuned version answers its training row

    # A newer version no run has evaluated (the off-by-one toy) is never served.
    assert _new_manual_version(ft, sandbox, BASE) == 3
    assert _production(ft)["model_version"] == 2
    assert _infer(ft, "3 + 10")["output"] == "13"

    third = _run(ft)  # ranks version 3: it is no better than its base now
    assert {m["id"]: m.get("version") for m in third["model_configs"]}[cid] == 3
    assert {r["model_id"]: r for r in third["ranking"]["rows"]}[cid]["score"] == 0.0


def test_a_pinned_candidate_is_evaluated_at_its_pin(ft, sandbox):
    _fine_tune(ft)  # version 2: the tuned model
    _new_manual_version(ft, sandbox, BASE)  # version 3 is current
    body = {"platform": "drgero", "model_id": ft.model_id, "version": 2}
    status, candidate = ft.api("POST", f"/api/leaderboards/{ft.lb}/models", body)
    assert status == 201, candidate
    assert candidate["pinned_version"] == 2 and candidate["config"]["model"].startswith("sandbox/ft-")
    assert candidate["name"] == "arith-bot v2"
    run = _run(ft)
    config = {m["id"]: m for m in run["model_configs"]}[candidate["id"]]
    assert (config["version"], config["pinned_version"]) == (2, 2)
    assert {r["model_id"]: r for r in run["ranking"]["rows"]}[candidate["id"]]["score"] == 1.0
    status, missing = ft.api("POST", f"/api/leaderboards/{ft.lb}/models", {**body, "version": 9})
    assert status == 404, missing  # (the identity conflict is checked after the version exists)


def test_a_manual_selection_pins_a_version(ft, sandbox):
    status, candidate = ft.api(
        "POST", f"/api/leaderboards/{ft.lb}/models", {"platform": "drgero", "model_id": ft.model_id}
    )
    assert status == 201, candidate
    cid = candidate["id"]
    _fine_tune(ft)  # version 2 is current, no run has evaluated it
    # No version given, no run yet: the current version now, stored (a later change does not move it).
    status, chosen = ft.api("PUT", f"/api/leaderboards/{ft.lb}/selection", {"strategy": "manual", "model_id": cid})
    assert status == 200, chosen
    assert chosen["production"] == {"model_id": cid, "strategy": "manual", "model_version": 2}
    _new_manual_version(ft, sandbox, BASE)
    assert _infer(ft, "3 + 10")["output"] == "13"
    # An explicit version is served as asked; one that does not exist is 404; another platform 400.
    body = {"strategy": "manual", "model_id": cid, "model_version": 1}
    status, chosen = ft.api("PUT", f"/api/leaderboards/{ft.lb}/selection", body)
    assert (status, chosen["production"]["model_version"]) == (200, 1)
    assert _infer(ft, "3 + 10")["output"] != "13"  # version 1: the base toy
    assert ft.api("PUT", f"/api/leaderboards/{ft.lb}/selection", {**body, "model_version": 7})[0] == 404
    other = {"strategy": "manual", "model_id": ft.setup.models[BASE], "model_version": 1}
    assert ft.api("PUT", f"/api/leaderboards/{ft.lb}/selection", other)[0] == 400
    assert (
        ft.api("PUT", f"/api/leaderboards/{ft.lb}/selection", {"strategy": "ranking_winner", "model_version": 1})[0]
        == 400
    )
