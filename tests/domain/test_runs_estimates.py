"""A run's duration estimate picks each model's latency from the strongest source there is
(drgero.runs.estimates): this leaderboard's last run, else our inference traces of the same
OpenRouter model (the judge model's too), else the default; the range widens with a weaker
source. The per-shard cost beyond the calls: this leaderboard's last run, else what the
workspace's other leaderboards' runs measured, else the default."""

from __future__ import annotations

from datetime import timedelta

from drgero.core import clock
from drgero.runs.estimates import estimate, latest_completed, observed_shard_overhead
from drgero.store.keys import candidate_key, leaderboard_key, run_key
from drgero.traces import TraceStore
from drgero.traces.model import ModelInfo, Trace
from tests.support.runs import Driver, Setup, attach, make_setup, push_rows, rows

EXACT, ECHO, JUDGE = "sandbox/arithmetic-exact", "sandbox/echo", "sandbox/judge-toy"


def traced(aws, workspace_id: str, model_id: str, durations: list[float]) -> None:
    """Inference traces of one model, as the trace writer stores them (ok, with a duration)."""
    store = TraceStore.from_clients(aws.settings, aws.clients)
    now = clock.now()
    for i, ms in enumerate(durations):
        store.write(
            Trace(
                workspace_id=workspace_id,
                kind="inference",
                name="chat",
                created_at=now - timedelta(minutes=i + 1),
                duration_ms=ms,
                model=ModelInfo(id=model_id, platform="openrouter"),
            )
        )


def planned(setup, judge_model: str | None = None):
    table = setup.table
    leaderboard = table.get(*leaderboard_key(setup.workspace_id, setup.leaderboard_id))
    items = [table.get(*candidate_key(setup.leaderboard_id, mid)) for mid in setup.models.values()]
    return estimate(setup.aws.settings, table, leaderboard, items, 40, judge=judge_model is not None,
                    judge_model=judge_model)  # fmt: skip


def width(plan) -> float:
    return (plan.high_seconds - plan.low_seconds) / plan.seconds


def test_a_first_run_uses_latencies_observed_elsewhere_then_the_last_run(aws, sandbox):
    setup = make_setup(aws, sandbox, toys=(EXACT, ECHO), n_rows=40)
    default_ms = aws.settings.evaluation.default_latency_ms
    nothing = planned(setup)
    assert nothing.source == "default"
    assert nothing.latency_ms_used == {setup.models[EXACT]: default_ms, setup.models[ECHO]: default_ms}

    # EXACT was called in production (traces name its candidate id): the first run uses its
    # observed median; ECHO has nothing and keeps the default, so the range stays the widest.
    traced(aws, setup.workspace_id, setup.models[EXACT], [40.0 + i for i in range(21)])
    half = planned(setup)
    assert half.latency_ms_used[setup.models[EXACT]] == 50.0  # the nearest-rank median of 40..60
    assert half.latency_ms_used[setup.models[ECHO]] == default_ms and half.source == "default"

    # Traces may name the OpenRouter id itself: both models observed.
    traced(aws, setup.workspace_id, ECHO, [80.0] * 20)
    observed = planned(setup)
    assert observed.source == "observed"
    assert observed.latency_ms_used == {setup.models[EXACT]: 50.0, setup.models[ECHO]: 80.0}
    assert width(observed) < width(nothing)

    # After a run on this leaderboard its own latencies win, and the range narrows again.
    setup.start()
    Driver(aws).drain()
    second = planned(setup)
    assert second.source == "last_run"
    assert second.latency_ms_used[setup.models[EXACT]] not in (50.0, default_ms)
    assert width(second) < width(observed)


def test_a_judge_run_uses_the_judge_models_observed_latency(aws, sandbox):
    setup = make_setup(aws, sandbox, toys=(EXACT, ECHO), n_rows=40)
    default_ms = aws.settings.evaluation.default_latency_ms
    assert planned(setup, JUDGE).latency_ms_used["judge"] == default_ms
    traced(aws, setup.workspace_id, JUDGE, [300.0] * 20)
    plan = planned(setup, JUDGE)
    assert plan.latency_ms_used["judge"] == 300.0
    assert plan.calls == 40 * 2 * 2  # every row: a candidate call and a judge call


def test_too_few_traces_fall_back_to_the_default(aws, sandbox):
    setup = make_setup(aws, sandbox, toys=(EXACT, ECHO), n_rows=40)
    few = aws.settings.providers.observed_latency_min_samples - 1
    traced(aws, setup.workspace_id, EXACT, [10.0] * few)
    plan = planned(setup)
    assert plan.latency_ms_used[setup.models[EXACT]] == aws.settings.evaluation.default_latency_ms


def another_leaderboard(setup) -> Setup:
    """A second leaderboard in the same workspace, with the same rows and toy models."""
    status, created = setup.api("POST", "/api/leaderboards", {"name": "other", "prompt": "{input}",
                                                               "dataset": {"mode": "PUSH"}})  # fmt: skip
    assert status == 201, created
    other = Setup(setup.aws, setup.sandbox, setup.workspace_id, created["id"])
    push_rows(other, rows(40))
    for toy in setup.models:
        other.models[toy] = attach(other, {"platform": "openrouter", "model": toy})
    return other


def finished_in(setup, seconds: float) -> None:
    """The leaderboard's latest completed run took ``seconds`` (its measured wall time, which
    a test on a fast machine cannot choose otherwise)."""
    run = latest_completed(setup.table, setup.leaderboard_id)
    setup.table.update(*run_key(run["id"]), "SET execution_seconds = :s", values={":s": seconds})


def test_a_first_run_takes_the_per_shard_cost_from_the_workspaces_other_runs(aws, sandbox):
    setup = make_setup(aws, sandbox, toys=(EXACT, ECHO), n_rows=40)
    default = aws.settings.evaluation.estimate_shard_overhead_seconds
    other = another_leaderboard(setup)

    # Nothing ran in the workspace: the default per-shard cost.
    alone = planned(other)
    assert (alone.overhead_source, alone.shard_overhead_seconds) == ("default", default)

    # The first leaderboard ran (slowly: 60 s for 16 shard items of a few ms of calls): the
    # second one's first run is estimated with what that run measured beyond its calls.
    setup.start()
    Driver(aws).drain()
    finished_in(setup, 60.0)
    measured = observed_shard_overhead(aws.settings, latest_completed(setup.table, setup.leaderboard_id))
    assert measured is not None and measured > default
    first = planned(other)
    assert first.overhead_source == "workspace"
    assert first.shard_overhead_seconds == measured
    assert first.overhead_seconds == aws.settings.evaluation.estimate_overhead_seconds  # 60 s covers it
    assert first.seconds > alone.seconds and first.high_seconds > alone.high_seconds

    # Once the leaderboard has a run of its own, its own measurement wins over the workspace's.
    other.start()
    Driver(aws).drain()
    finished_in(other, 20.0)
    own = planned(other)
    assert own.overhead_source == "last_run"
    assert own.shard_overhead_seconds == observed_shard_overhead(
        aws.settings, latest_completed(other.table, other.leaderboard_id)
    )
    assert own.shard_overhead_seconds < measured


def test_the_workspace_per_shard_cost_is_the_median_of_the_other_leaderboards(aws, sandbox):
    setup = make_setup(aws, sandbox, toys=(EXACT, ECHO), n_rows=40)
    second, third = another_leaderboard(setup), another_leaderboard(setup)
    measured = []
    for done, seconds in ((setup, 10.0), (second, 30.0), (third, 90.0)):
        done.start()
        Driver(aws).drain()
        finished_in(done, seconds)
        measured.append(observed_shard_overhead(aws.settings, latest_completed(done.table, done.leaderboard_id)))
    fresh = another_leaderboard(setup)
    plan = planned(fresh)
    assert plan.overhead_source == "workspace"
    assert plan.shard_overhead_seconds == sorted(measured)[1]


def test_a_run_quicker_than_the_fixed_cost_lowers_it_for_the_next(aws, sandbox):
    setup = make_setup(aws, sandbox, toys=(EXACT, ECHO), n_rows=40)
    fixed = aws.settings.evaluation.estimate_overhead_seconds
    before = planned(setup)
    setup.start()
    Driver(aws).drain()
    # 3 s in all for calls of a few ms: the configured fixed cost (5 s) was too high here, and
    # nothing is left for the shard items.
    finished_in(setup, 3.0)
    after = planned(setup)
    assert after.overhead_source == "last_run"
    assert 0.0 < after.overhead_seconds < fixed and after.shard_overhead_seconds == 0.0
    assert after.seconds < before.seconds
