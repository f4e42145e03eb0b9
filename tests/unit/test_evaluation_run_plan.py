"""Run planning: shards as idempotency keys, and estimated_seconds."""

from __future__ import annotations

import pytest

from drgero.evaluation.run_plan import ModelLoad, estimate_run_seconds, plan_shards, shard_id


def test_shards_cover_every_row_of_every_model_exactly_once() -> None:
    items = plan_shards("run_1", ["m1", "m2", "m3"], row_count=103, shard_size=25)
    assert len(items) == 5 * 3
    for model in ("m1", "m2", "m3"):
        covered = [i for item in items if item.model_id == model for i in range(item.row_start, item.row_end)]
        assert covered == list(range(103))
    last = [item for item in items if item.model_id == "m1"][-1]
    assert (last.row_start, last.row_end, last.row_count, last.shard_index, last.shard_count) == (100, 103, 3, 4, 5)


def test_shards_are_interleaved_by_index_so_models_progress_together() -> None:
    items = plan_shards("run_1", ["a", "b"], row_count=50, shard_size=25)
    assert [(item.shard_index, item.model_id) for item in items] == [(0, "a"), (0, "b"), (1, "a"), (1, "b")]


def test_shard_ids_are_deterministic_unique_and_independent_of_model_order() -> None:
    first = plan_shards("run_1", ["a", "b"], row_count=60, shard_size=20)
    again = plan_shards("run_1", ["b", "a"], row_count=60, shard_size=20)
    assert {i.shard_id for i in first} == {i.shard_id for i in again}
    assert len({i.shard_id for i in first}) == len(first)
    assert first[0].shard_id == shard_id("run_1", "a", 0, 20)
    assert first[0].shard_id.startswith("shd_") and len(first[0].shard_id) == 28
    other_run = plan_shards("run_2", ["a", "b"], row_count=60, shard_size=20)
    assert not {i.shard_id for i in first} & {i.shard_id for i in other_run}


def test_empty_dataset_has_no_work() -> None:
    assert plan_shards("run_1", ["a", "b"], row_count=0, shard_size=25) == []


@pytest.mark.parametrize(
    ("run_id", "models", "rows", "size", "message"),
    [
        ("", ["a"], 10, 5, "run_id"),
        ("run", ["a"], 10, 0, "shard_size"),
        ("run", ["a"], -1, 5, "row_count"),
        ("run", ["a", "a"], 10, 5, "unique"),
        ("run", ["a", ""], 10, 5, "non-empty"),
    ],
)
def test_invalid_plans_are_refused(run_id: str, models: list[str], rows: int, size: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        plan_shards(run_id, models, rows, size)


def test_estimate_uses_observed_latency_and_group_concurrency() -> None:
    # Group "or": m1 (observed 100 ms) + m2 (no data: default 400 ms): 1000 rows each ->
    #   busy = 1000 * 100 + 1000 * 400 = 500,000 ms; concurrency 10 -> 50 s.
    # Group "hf": m3 (observed 200 ms): 1000 * 200 = 200,000 ms; default concurrency 4 -> 50 s.
    # Groups run in parallel: max(50, 50) + 5 s overhead = 55 s.
    estimate = estimate_run_seconds(
        rows=1000,
        models=[
            ModelLoad("m1", "or", observed_latency_ms=100.0),
            ModelLoad("m2", "or"),
            ModelLoad("m3", "hf", observed_latency_ms=200.0),
        ],
        concurrency={"or": 10},
        default_concurrency=4,
        default_latency_ms=400.0,
        overhead_seconds=5.0,
    )
    assert estimate.seconds == 55
    assert estimate.calls == 3000
    assert estimate.group_seconds == {"or": 50.0, "hf": 50.0}
    assert estimate.latency_ms_used == {"m1": 100.0, "m2": 400.0, "m3": 200.0}


def test_estimate_adds_judge_calls_to_the_judge_group() -> None:
    # 100 rows x 2 models = 200 judge calls at 1,000 ms in group "or" shared with both models
    # (100 * 100 ms each): busy = 20,000 + 200,000 = 220,000 ms / concurrency 20 = 11 s; +0 overhead.
    estimate = estimate_run_seconds(
        rows=100,
        models=[ModelLoad("a", "or", 100.0), ModelLoad("b", "or", 100.0)],
        concurrency={"or": 20},
        default_concurrency=1,
        default_latency_ms=500.0,
        overhead_seconds=0.0,
        judge=ModelLoad("judge-model", "or", 1000.0),
    )
    assert estimate.seconds == 11
    assert estimate.calls == 400


def test_estimate_ignores_unusable_observations_and_is_at_least_one_second() -> None:
    estimate = estimate_run_seconds(
        rows=1,
        models=[ModelLoad("a", "g", float("nan")), ModelLoad("b", "g", -5.0)],
        concurrency={},
        default_concurrency=8,
        default_latency_ms=10.0,
        overhead_seconds=0.0,
    )
    assert estimate.latency_ms_used == {"a": 10.0, "b": 10.0}
    assert estimate.seconds == 1
    with pytest.raises(ValueError):
        estimate_run_seconds(
            rows=1,
            models=[],
            concurrency={"g": 0},
            default_concurrency=1,
            default_latency_ms=1.0,
            overhead_seconds=0.0,
        )
