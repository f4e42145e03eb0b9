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


BASE = {"shard_size": 25, "call_concurrency": 8, "default_latency_ms": 2000.0,
        "overhead_seconds": 5.0, "shard_overhead_seconds": 0.5}  # fmt: skip


def test_estimate_with_every_shard_in_parallel_is_the_slowest_shard() -> None:
    # AWS (workers 0): 100 rows / 25 = 4 shards x 2 models, all at once. A shard sends its 25
    # rows 8 at a time: ceil(25 / 8) = 4 waves. m1 p50 100 ms: 4 x 0.1 + 0.5 = 0.9 s;
    # m2 (no observation: 2000 ms): 4 x 2 + 0.5 = 8.5 s. Wall = 5 + 8.5 = 13.5 -> 14 s.
    estimate = estimate_run_seconds(
        rows=100, models=[ModelLoad("m1", 100.0, 150.0), ModelLoad("m2")], workers=0, **BASE
    )
    assert estimate.seconds == 14 and estimate.parallel_shards == 8 and estimate.calls == 200
    assert estimate.latency_ms_used == {"m1": 100.0, "m2": 2000.0}
    # Range: m2 was never observed (the default source), so it is the widest (run_plan.SPREAD):
    # low 0.3 x p50 and 0.5 x overheads -> 2.5 + 4 x 0.6 + 0.25 = 5.15 -> 5; high 2.5 x p95
    # (1.6 x p50 unobserved) and 2.5 x overheads -> 12.5 + 4 x 8 + 1.25 = 45.75 -> 46.
    assert estimate.source == "default"
    assert (estimate.low_seconds, estimate.high_seconds) == (5, 46)


def test_the_range_widens_with_a_weaker_latency_source() -> None:
    # The same latencies (p50 100 ms, p95 150 ms) from this leaderboard's last run, from
    # traces elsewhere, or not observed at all (the default is then the same 100 ms).
    def ranged(source: str) -> tuple[int, int, int]:
        observed = (None, None) if source == "default" else (100.0, 150.0)
        models = [ModelLoad(m, *observed, source=source) for m in ("a", "b")]
        base = {**BASE, "default_latency_ms": 100.0, "call_concurrency": 1}
        estimate = estimate_run_seconds(rows=200, models=models, workers=2, **base)
        assert estimate.source == source
        return estimate.low_seconds, estimate.seconds, estimate.high_seconds

    last, observed, default = ranged("last_run"), ranged("observed"), ranged("default")
    assert last[1] == observed[1] == default[1]  # the same point estimate
    assert default[0] < observed[0] < last[0] <= last[1] <= last[2] < observed[2] < default[2]
    # Last run: 16 items (8 shards x 2 models) over 2 workers, 25 calls one at a time each:
    # point 5 + 16 x (25 x 0.1 + 0.5) / 2 = 29; low 5 + 16 x (25 x 0.08 + 0.5) / 2 = 25;
    # high 7.5 + 16 x (25 x 0.15 + 0.75) / 2 = 43.5 -> 44.
    assert last == (25, 29, 44)


def test_unmeasured_overheads_widen_the_range_like_a_weaker_latency_source() -> None:
    # Latencies from this leaderboard's last run, but overheads that no run measured (the
    # configured defaults): the overheads get the default's spread, the latencies keep theirs.
    models = [ModelLoad(m, 100.0, 150.0) for m in ("a", "b")]
    base = {**BASE, "default_latency_ms": 100.0, "call_concurrency": 1}

    def ranged(overheads_source: str) -> tuple[int, int, int]:
        estimate = estimate_run_seconds(rows=200, models=models, workers=2, overheads_source=overheads_source, **base)
        assert estimate.source == "last_run"
        return estimate.low_seconds, estimate.seconds, estimate.high_seconds

    measured, elsewhere, unmeasured = ranged("last_run"), ranged("observed"), ranged("default")
    assert measured == (25, 29, 44)  # as in the test above
    assert measured[1] == elsewhere[1] == unmeasured[1]
    # Default overheads 0.5 .. 2.5 x: low 2.5 + 16 x (25 x 0.08 + 0.25) / 2 = 20.5 -> 20;
    # high 12.5 + 16 x (25 x 0.15 + 1.25) / 2 = 52.5 -> 53.
    assert (unmeasured[0], unmeasured[2]) == (20, 53)
    assert unmeasured[0] < elsewhere[0] < measured[0] and measured[2] < elsewhere[2] < unmeasured[2]


def test_estimate_with_one_worker_adds_every_shard_up() -> None:
    # The local cloud: one item at a time. 8 items: 4 x (0.9 + 8.5) = 37.6 s + 5 = 42.6 -> 43.
    estimate = estimate_run_seconds(rows=100, models=[ModelLoad("m1", 100.0), ModelLoad("m2")], workers=1, **BASE)
    assert estimate.seconds == 43 and estimate.parallel_shards == 1
    assert estimate.low_seconds <= estimate.seconds <= estimate.high_seconds


def test_estimate_adds_the_judge_after_each_shard() -> None:
    # 10 rows, one shard per model: 2 waves (8 + 2). Candidate 2 x 0.1 + 0.5 = 0.7, judge
    # 2 x 1.0 + 0.5 = 2.5: 3.2 s per item, in parallel -> 5 + 3.2 = 8.2 -> 9.
    estimate = estimate_run_seconds(
        rows=10, models=[ModelLoad("a", 100.0), ModelLoad("b", 100.0)], workers=0,
        judge=ModelLoad("judge", 1000.0), **BASE,
    )  # fmt: skip
    assert estimate.seconds == 9 and estimate.calls == 40


def test_estimate_ignores_unusable_observations_and_refuses_bad_input() -> None:
    estimate = estimate_run_seconds(
        rows=1, models=[ModelLoad("a", float("nan")), ModelLoad("b", -5.0)], workers=0,
        **{**BASE, "default_latency_ms": 10.0, "overhead_seconds": 0.0, "shard_overhead_seconds": 0.0},
    )  # fmt: skip
    assert estimate.latency_ms_used == {"a": 10.0, "b": 10.0}
    assert estimate.seconds == 1
    with pytest.raises(ValueError):
        estimate_run_seconds(rows=1, models=[], workers=0, **{**BASE, "call_concurrency": 0})
