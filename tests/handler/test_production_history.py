"""GET /api/leaderboards/{id}/production-history: every change of the production model
(a pin, back to the ranking winner, a completed run, a removed model), recorded in the same
transaction as the change, newest first, never another workspace's."""

from __future__ import annotations

import pytest

from drgero.runs.selection import move_production
from tests.support.inference import make_world


@pytest.fixture
def world(aws, sandbox):
    w = make_world(aws, sandbox)
    w.leaderboard()
    w.attach_toy("sandbox/echo", "echo")
    w.attach_toy("sandbox/arithmetic-exact", "exact")
    w.attach_toy("sandbox/off-by-one", "off")
    return w


def history(world, token=None):
    answer = world.api.get(f"/api/leaderboards/{world.leaderboard_id}/production-history", token or world.token)
    assert answer.status == 200, answer.json
    return answer.json["changes"]


def test_each_change_is_recorded_with_its_cause(world):
    assert history(world) == []
    world.select("echo")
    run_id = world.rank(["exact", "echo", "off"])  # back to ranking_winner: exact
    world.select("echo")  # a pin again
    world.select("echo")  # the same pin: no change, no record
    changes = history(world)
    assert [(c["cause"], c["from_model_id"], c["to_model_id"]) for c in changes] == [
        ("pin", world.models["exact"], world.models["echo"]),
        ("ranking_winner", world.models["echo"], world.models["exact"]),
        ("pin", None, world.models["echo"]),
    ]
    assert changes[1]["run_id"] == run_id
    assert changes[0]["at"] >= changes[1]["at"] >= changes[2]["at"]


def test_a_completed_run_and_a_removed_model_are_recorded(world):
    first = world.rank(["off", "echo"])
    later = {"id": "run_later", "workspace_id": world.workspace_id, "leaderboard_id": world.leaderboard_id,
             "started_at": "2999-01-01T00:00:00.000Z"}  # fmt: skip
    assert move_production(world.table, later, world.models["exact"])
    removed = world.api.delete(f"/api/leaderboards/{world.leaderboard_id}/models/{world.models['exact']}", world.token)
    assert removed.status in (200, 204), removed.json
    changes = history(world)
    assert [(c["cause"], c["to_model_id"]) for c in changes] == [
        ("model_removed", world.models["off"]),
        ("run", world.models["exact"]),
        ("ranking_winner", world.models["off"]),
    ]
    assert changes[1]["run_id"] == "run_later"
    assert changes[0]["from_model_id"] == world.models["exact"]
    assert changes[2]["run_id"] == first


def test_another_workspace_gets_404_and_the_scope_is_leaderboards_read(world, aws):
    other = make_world(aws, world.sandbox)
    answer = other.api.get(f"/api/leaderboards/{world.leaderboard_id}/production-history", other.token)
    assert answer.status == 404
    inference_only, _ = world.token_with(["inference"])
    denied = world.api.get(f"/api/leaderboards/{world.leaderboard_id}/production-history", inference_only)
    assert (denied.status, denied.error_code) == (403, "insufficient_scope")
