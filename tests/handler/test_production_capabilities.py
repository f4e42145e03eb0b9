"""A leaderboard's required capabilities (tools, json_mode, streaming): a candidate without
them is still ranked but never made production (run winner, ranking_winner selection,
fallback after a removal, manual pick), and the ranking says why."""

from __future__ import annotations

import pytest

from drgero.runs.aggregate import production_pick
from tests.support.inference import make_world


@pytest.fixture
def world(aws, sandbox):
    w = make_world(aws, sandbox)
    w.leaderboard(required_capabilities=["tools", "streaming"])
    w.attach_toy("sandbox/off-by-one", "plain")  # max_tokens and temperature only
    w.attach_toy("sandbox/echo", "tools")  # tools, response_format, ... (and OpenRouter streams)
    w.attach_toy("sandbox/coin-flip-half", "coin")
    return w


def test_the_leaderboard_keeps_its_required_capabilities(world):
    view = world.api.get(f"/api/leaderboards/{world.leaderboard_id}", world.token).json
    assert view["required_capabilities"] == ["streaming", "tools"]
    patched = world.api.patch(
        f"/api/leaderboards/{world.leaderboard_id}", world.token, {"required_capabilities": ["json_mode"]}
    )
    assert patched.json["required_capabilities"] == ["json_mode"]
    bad = world.api.patch(f"/api/leaderboards/{world.leaderboard_id}", world.token, {"required_capabilities": ["x"]})
    assert bad.status == 400


def test_the_best_capable_candidate_becomes_production_and_the_ranking_says_why(world):
    run_id = world.rank(["plain", "coin", "tools"])  # plain ranks first but lacks tools
    ranking = world.api.get(f"/api/leaderboards/{world.leaderboard_id}/ranking", world.token).json
    assert ranking["run_id"] == run_id
    assert ranking["production"]["model_id"] == world.models["tools"]
    rows = {row["model_id"]: row for row in ranking["rows"]}
    assert rows[world.models["plain"]]["production_eligible"] is False
    assert rows[world.models["plain"]]["not_eligible_reason"] == "lacks required capabilities: tools"
    assert rows[world.models["tools"]]["production_eligible"] is True
    assert ranking["required_capabilities"] == ["streaming", "tools"]
    # What a completing run would move production to.
    record = world.table.get(f"RUN#{run_id}", "META")
    assert (
        production_pick(world.table, record, {"winner_model_id": world.models["plain"], "rows": ranking["rows"]})
        == (world.models["tools"])
    )


def test_a_manual_pick_without_the_capabilities_is_409(world):
    answer = world.api.put(
        f"/api/leaderboards/{world.leaderboard_id}/selection",
        world.token,
        {"strategy": "manual", "model_id": world.models["plain"]},
    )
    assert (answer.status, answer.error_code) == (409, "model_lacks_capabilities")
    assert answer.json["error"]["details"] == {"missing": ["tools"]}
    world.select("tools")


def test_without_requirements_the_winner_is_production(aws, sandbox):
    w = make_world(aws, sandbox)
    w.leaderboard()
    w.attach_toy("sandbox/off-by-one", "plain")
    w.attach_toy("sandbox/echo", "tools")
    w.rank(["plain", "tools"])
    ranking = w.api.get(f"/api/leaderboards/{w.leaderboard_id}/ranking", w.token).json
    assert ranking["production"]["model_id"] == w.models["plain"]
    assert all(row["production_eligible"] for row in ranking["rows"])
