"""Traffic becomes data: the capture rule of a PUSH leaderboard turns sampled inference calls
into pending dataset rows through the push path (same batch records, counters and limits),
deduplicated by the trace id. Also the rule's validation and the sampling function."""

from __future__ import annotations

import pytest

from drgero.datasets.consolidate import Consolidator
from drgero.inference.capture import CaptureDecision, batch_id_for, decide, sampled
from drgero.inference.config import CaptureRule
from drgero.store.keys import dataset_key
from tests.support.inference import World, make_world
from tests.support.leaderboards import consolidated_rows


def _world(aws, sandbox, capture: dict | None, **dataset) -> World:
    world = make_world(aws, sandbox)
    fields = {"capture": capture} if capture is not None else {}
    if dataset:
        fields["dataset"] = {"mode": "PUSH", "max_samples": 1000, **dataset}
    world.leaderboard(**fields)
    world.attach_toy("sandbox/echo", "echo")
    world.select("echo")
    return world


def _dataset(world: World) -> dict:
    return world.table.get(*dataset_key(world.leaderboard_id)) or {}


def _batches(world: World) -> list[dict]:
    return list(world.table.query_all(f"LB#{world.leaderboard_id}", "BATCH#"))


def test_a_captured_call_becomes_a_pending_row_and_then_a_dataset_row(aws, sandbox):
    world = _world(aws, sandbox, {"enabled": True, "sample_rate": 1.0})
    answer = world.infer({"input": "How do I reset my password?", "metadata": {"user_id": "u-7"}})
    assert answer.status == 200, answer.json
    trace_id = answer.json["trace_id"]

    assert _dataset(world)["accepted_rows"] == 1
    (batch,) = _batches(world)
    assert batch["batch_id"] == batch_id_for(trace_id)
    assert batch["rows"] == 1
    status = world.api.get(f"/v1/leaderboard/{world.leaderboard_id}/dataset/status", world.token).json
    assert status["pending"] == 1

    result = Consolidator(aws.settings, aws.clients).consolidate(world.workspace_id, world.leaderboard_id)
    assert result.status == "consolidated", result
    (row,) = consolidated_rows(aws, world.leaderboard_id)
    assert row["id"] == trace_id
    assert row["input"] == "How do I reset my password?"  # the caller's input, before the prompt
    assert row["output"] == "Answer briefly.\n\nHow do I reset my password?"
    assert row["metadata"]["user_id"] == "u-7"
    assert row["metadata"]["source"] == "inference"
    assert row["metadata"]["model_id"] == world.models["echo"]


def test_the_chat_route_is_captured_too(aws, sandbox):
    world = _world(aws, sandbox, {"enabled": True})
    body = {"model": f"leaderboard/{world.leaderboard_id}", "messages": [{"role": "user", "content": "hi"}]}
    assert world.chat({**body, "metadata": {"channel": "web"}}).status == 200
    assert _dataset(world)["accepted_rows"] == 1


def test_no_rule_or_a_disabled_rule_captures_nothing(aws, sandbox):
    world = _world(aws, sandbox, None)
    assert world.infer({"input": "hi"}).status == 200
    assert (
        world.api.patch(
            f"/api/leaderboards/{world.leaderboard_id}", world.token, {"capture": {"enabled": False}}
        ).status
        == 200
    )
    assert world.infer({"input": "hi"}).status == 200
    assert _dataset(world).get("accepted_rows", 0) == 0
    assert _batches(world) == []


def test_sample_rate_zero_captures_nothing_and_the_trace_says_why(aws, sandbox):
    world = _world(aws, sandbox, {"enabled": True, "sample_rate": 0.0})
    trace_id = world.infer({"input": "hi"}).json["trace_id"]
    assert _dataset(world)["accepted_rows"] == 0
    trace = next(t for t in world.queued_traces() if t["id"] == trace_id)
    assert trace["metadata"]["capture"] == "not_sampled"


def test_the_metadata_filter_selects_which_calls_are_captured(aws, sandbox):
    rule = {"enabled": True, "metadata_filter": {"channel": ["web", "app"], "tier": "pro"}}
    world = _world(aws, sandbox, rule)
    assert world.infer({"input": "a", "metadata": {"channel": "web", "tier": "pro"}}).status == 200
    assert world.infer({"input": "b", "metadata": {"channel": "email", "tier": "pro"}}).status == 200
    assert world.infer({"input": "c", "metadata": {"channel": "app"}}).status == 200
    assert world.infer({"input": "d"}).status == 200
    assert _dataset(world)["accepted_rows"] == 1
    captures = {t["input"]: t["metadata"]["capture"] for t in world.queued_traces()}
    assert captures == {"a": "capture", "b": "filtered", "c": "filtered", "d": "filtered"}


def test_a_repeated_capture_of_one_call_counts_once(aws, sandbox):
    world = _world(aws, sandbox, {"enabled": True})
    answer = world.infer({"input": "hi"})
    trace_id = answer.json["trace_id"]
    service = aws.functions.module("InferenceFunction").service
    from tests.support.identity import api_principal

    principal = api_principal(world.workspace_id, token_id=world.token_id)
    target = service.target(principal, world.leaderboard_id)
    from drgero.inference.request import InferenceRequest

    request = InferenceRequest("hi", None, None, None, {})
    for _ in range(3):  # a retried or redelivered capture of the same call
        assert service._capture(principal, target, trace_id, request, "out", {"trace_id": trace_id}) == "captured"
    assert _dataset(world)["accepted_rows"] == 1
    assert len(_batches(world)) == 1


def test_limits_are_respected_and_a_full_dataset_never_fails_the_call(aws, sandbox):
    world = _world(aws, sandbox, {"enabled": True}, daily_limit=2, monthly_limit=100)
    for text in ("one", "two", "three", "four"):
        answer = world.infer({"input": text})
        assert answer.status == 200, answer.json  # the call stands even when the row is refused
    assert _dataset(world)["accepted_rows"] == 2
    assert len(_batches(world)) == 2
    counters = list(world.table.query_all(f"LB#{world.leaderboard_id}", "COUNTER#DAY#"))
    assert counters[0]["accepted"] == 2


def test_a_closed_dataset_captures_nothing(aws, sandbox):
    world = _world(aws, sandbox, {"enabled": True}, end_date="2020-01-01")
    assert world.infer({"input": "late"}).status == 200
    assert _dataset(world)["accepted_rows"] == 0


# ------------------------------------------------------------------ validation of the rule
@pytest.mark.parametrize(
    "capture",
    [
        {"enabled": "yes"},
        {"enabled": True, "sample_rate": 2},
        {"enabled": True, "sample_rate": -0.1},
        {"enabled": True, "sample_rate": "half"},
        {"enabled": True, "metadata_filter": ["a"]},
        {"enabled": True, "metadata_filter": {"k": {"nested": 1}}},
        {"enabled": True, "metadata_filter": {"k": []}},
        {"enabled": True, "surprise": 1},
        "on",
    ],
)
def test_bad_capture_rules_are_400(aws, sandbox, capture):
    world = make_world(aws, sandbox)
    body = {"name": "x", "prompt": "{input}", "dataset": {"mode": "PUSH"}, "capture": capture}
    created = world.api.post("/api/leaderboards", world.token, body)
    assert created.status == 400, created.json
    world.leaderboard()
    patched = world.api.patch(f"/api/leaderboards/{world.leaderboard_id}", world.token, {"capture": capture})
    assert patched.status == 400, patched.json


def test_the_rule_is_shown_on_the_leaderboard(aws, sandbox):
    world = _world(aws, sandbox, {"enabled": True, "sample_rate": 0.25, "metadata_filter": {"tier": "pro"}})
    view = world.api.get(f"/api/leaderboards/{world.leaderboard_id}", world.token).json
    assert view["capture"] == {"enabled": True, "sample_rate": 0.25, "metadata_filter": {"tier": "pro"}}
    assert view["inference"] == {"fallback": False, "max_fallbacks": 1}


# ------------------------------------------------------------------ sampling
def test_sampling_is_deterministic_by_trace_id_and_close_to_the_rate():
    ids = [f"tr_{i:026d}" for i in range(4000)]
    picked = [i for i in ids if sampled(i, 0.25)]
    assert picked == [i for i in ids if sampled(i, 0.25)]  # same id, same decision
    assert 800 < len(picked) < 1200
    assert all(sampled(i, 1.0) for i in ids[:50])
    assert not any(sampled(i, 0.0) for i in ids[:50])
    # A higher rate keeps every call a lower rate kept (the sample only grows).
    assert set(picked) <= {i for i in ids if sampled(i, 0.5)}


def test_decide_needs_a_push_dataset_and_an_enabled_rule():
    rule = CaptureRule(enabled=True)
    assert decide(rule, "GET", "tr_x", {}) is CaptureDecision.OFF
    assert decide(CaptureRule(), "PUSH", "tr_x", {}) is CaptureDecision.OFF
    assert decide(rule, "PUSH", "tr_x", {}) is CaptureDecision.CAPTURE
    typed = CaptureRule(enabled=True, metadata_filter={"flag": True, "n": 1})
    assert decide(typed, "PUSH", "tr_x", {"flag": True, "n": 1}) is CaptureDecision.CAPTURE
    assert decide(typed, "PUSH", "tr_x", {"flag": 1, "n": 1}) is CaptureDecision.FILTERED  # types matter
