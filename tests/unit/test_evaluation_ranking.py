"""Ranking: aggregates, ordering, near-ties, error accounting and the significance verdict."""

from __future__ import annotations

import pytest

from drgero.core.settings import EvaluationSettings
from drgero.evaluation.ranking import Ranking, RankingOptions, RowOutcome, rank_models

CONTRACT_FIELDS = {
    "model_id",
    "rank",
    "score",
    "ci_low",
    "ci_high",
    "n",
    "errors",
    "cost_usd",
    "latency_p50_ms",
    "latency_p95_ms",
}


def _pf(pattern: str, cost: float = 0.001, latency: float = 100.0, prefix: str = "r") -> list[RowOutcome]:
    """Pass/fail rows from a string: 1 pass, 0 fail, C call failed, J judge error, S scoring error."""
    rows = []
    for i, ch in enumerate(pattern):
        row_id = f"{prefix}{i}"
        if ch in "01":
            rows.append(RowOutcome(row_id, score=float(ch), latency_ms=latency, cost_usd=cost))
        else:
            error = {"C": "call_failed", "J": "judge_error", "S": "scoring_error"}[ch]
            rows.append(RowOutcome(row_id, error=error, latency_ms=latency, cost_usd=cost))  # type: ignore[arg-type]
    return rows


def _pass_fail(**overrides: object) -> RankingOptions:
    return RankingOptions(metric="pass_fail", seed="run_test", **overrides)  # type: ignore[arg-type]


def _row(ranking: Ranking, model_id: str):
    return next(r for r in ranking.rows if r.model_id == model_id)


def test_pass_rate_rows_carry_wilson_intervals_and_contract_fields() -> None:
    ranking = rank_models({"a": _pf("1111111100"), "b": _pf("1111100000")}, _pass_fail())
    a, b = ranking.rows
    assert (a.model_id, a.rank, b.model_id, b.rank) == ("a", 1, "b", 2)
    # 8/10: Wilson [0.490161, 0.943315] (hand computation in test_evaluation_stats.py)
    assert (a.score, a.n, a.errors) == (0.8, 10, 0)
    assert a.ci_low == pytest.approx(0.490161, abs=1e-5) and a.ci_high == pytest.approx(0.943315, abs=1e-5)
    assert CONTRACT_FIELDS <= set(a.model_dump())
    assert ranking.metric == "pass_rate"
    assert ranking.winner_model_id == "a"


def test_significant_winner_is_stated_with_its_p_value() -> None:
    # 20 paired rows: a only passes 10, b only passes 2, both pass 5, both fail 3 -> McNemar b=10,
    # c=2 -> p = 2 * 79 / 4096 = 0.0385742 < 0.05
    a = "1" * 10 + "0" * 2 + "1" * 5 + "0" * 3
    b = "0" * 10 + "1" * 2 + "1" * 5 + "0" * 3
    ranking = rank_models({"a": _pf(a), "b": _pf(b)}, _pass_fail())
    assert ranking.winner_significant is True
    assert ranking.p_value == pytest.approx(0.0385742, abs=1e-7)
    assert ranking.comparison is not None and ranking.comparison.test == "mcnemar_exact"
    assert ranking.comparison.n_pairs == 20
    assert ranking.verdict.startswith("a is significantly better than b")
    assert "p = 0.0386" in ranking.verdict


def test_lead_that_is_not_significant_is_said_plainly() -> None:
    # a wins 5 discordant rows, b none: McNemar p = 2/32 = 0.0625 >= 0.05
    a = "11111" + "1" * 5
    b = "00000" + "1" * 5
    ranking = rank_models({"a": _pf(a), "b": _pf(b)}, _pass_fail())
    assert ranking.rows[0].model_id == "a"
    assert ranking.winner_significant is False
    assert ranking.p_value == pytest.approx(0.0625)
    assert "not statistically significant" in ranking.verdict
    assert "the lead could be chance" in ranking.verdict


def test_near_tie_is_broken_by_cost_then_latency() -> None:
    # 100 rows each; a 80/100, b 79/100 (within the 0.02 margin), b cheaper -> b first.
    a = _pf("1" * 80 + "0" * 20, cost=0.002)
    b = _pf("1" * 79 + "0" * 21, cost=0.001)
    c = _pf("1" * 50 + "0" * 50, cost=0.0001)  # cheapest, but far behind: no tie
    ranking = rank_models({"a": a, "b": b, "c": c}, _pass_fail())
    assert [r.model_id for r in ranking.rows] == ["b", "a", "c"]
    assert _row(ranking, "b").tie_group == _row(ranking, "a").tie_group == 1
    assert _row(ranking, "b").tie_broken_by == "cost"
    assert _row(ranking, "c").tie_group is None
    assert ranking.winner_significant is False
    assert ranking.comparison is not None and ranking.comparison.near_tie
    assert "near-tie" in ranking.verdict and "cheaper per row" in ranking.verdict

    # Same cost: the faster one wins.
    fast = _pf("1" * 79 + "0" * 21, cost=0.001, latency=50.0)
    slow = _pf("1" * 80 + "0" * 20, cost=0.001, latency=300.0)
    ranking = rank_models({"slow": slow, "fast": fast}, _pass_fail())
    assert [r.model_id for r in ranking.rows] == ["fast", "slow"]
    assert ranking.rows[0].tie_broken_by == "latency"


def test_near_tie_groups_are_anchored_not_chained() -> None:
    # a .90, b .885, c .87 with epsilon .02: b is within .02 of a; c is within .02 of b but not of a.
    def graded(score: float) -> list[RowOutcome]:
        return [RowOutcome(f"r{i}", score=score, cost_usd=0.001, latency_ms=10.0) for i in range(10)]

    options = RankingOptions(metric="graded", seed="s", near_tie_epsilon=0.02)
    ranking = rank_models({"a": graded(0.90), "b": graded(0.885), "c": graded(0.87)}, options)
    groups = {r.model_id: r.tie_group for r in ranking.rows}
    assert groups["a"] == groups["b"] == 1
    assert groups["c"] is None


def test_zero_epsilon_means_only_exact_ties_use_cost() -> None:
    ranking = rank_models(
        {"a": _pf("1100", cost=0.5), "b": _pf("1100", cost=0.1), "c": _pf("1000", cost=0.0)},
        _pass_fail(near_tie_epsilon=0.0),
    )
    assert [r.model_id for r in ranking.rows] == ["b", "a", "c"]


def test_errors_never_become_silent_zeros_or_disappear() -> None:
    # a: 6 passes, 2 fails, 1 failed call, 1 judge error -> score (6 + 0) / 9 with the call
    #    failure counted as a fail; the judge error is left out of the score.
    # b: the same plus a scoring error.
    ranking = rank_models({"a": _pf("111111" + "00" + "C" + "J"), "b": _pf("111111" + "00" + "C" + "S")}, _pass_fail())
    a = _row(ranking, "a")
    assert a.rows_total == 10
    assert (a.n, a.n_scored) == (9, 8)
    assert a.score == pytest.approx(6 / 9)
    assert (a.errors, a.call_errors, a.judge_errors, a.scoring_errors) == (2, 1, 1, 0)
    b = _row(ranking, "b")
    assert (b.errors, b.call_errors, b.judge_errors, b.scoring_errors) == (2, 1, 0, 1)


def test_call_failures_can_be_excluded_instead_of_failed() -> None:
    ranking = rank_models({"a": _pf("11C"), "b": _pf("100")}, _pass_fail(call_errors_count_as_failures=False))
    a = _row(ranking, "a")
    assert (a.score, a.n, a.n_scored, a.call_errors, a.errors) == (1.0, 2, 2, 1, 1)
    assert ranking.call_errors_count_as_failures is False


def test_unreliable_model_does_not_outrank_a_reliable_one_by_failing_calls() -> None:
    # flaky passes every row it answers but fails half its calls; steady passes 7 of 10.
    ranking = rank_models({"flaky": _pf("11111CCCCC"), "steady": _pf("1111111000")}, _pass_fail())
    assert [r.model_id for r in ranking.rows] == ["steady", "flaky"]
    assert _row(ranking, "flaky").call_errors == 5


def test_model_with_no_scored_row_ranks_last_and_is_never_the_winner() -> None:
    ranking = rank_models({"dead": _pf("JJJ"), "ok": _pf("010")}, _pass_fail())
    assert [r.model_id for r in ranking.rows] == ["ok", "dead"]
    dead = _row(ranking, "dead")
    assert (dead.score, dead.ci_low, dead.ci_high, dead.n, dead.errors, dead.judge_errors) == (
        None,
        None,
        None,
        0,
        3,
        3,
    )
    assert ranking.winner_model_id == "ok"
    assert ranking.winner_significant is False
    assert "Only ok could be scored" in ranking.verdict


def test_no_model_scored() -> None:
    ranking = rank_models({"a": _pf("J"), "b": _pf("S")}, _pass_fail())
    assert ranking.winner_model_id is None
    assert ranking.verdict == "No model could be scored, so there is no winner."


def test_paired_test_uses_only_rows_both_models_have_in_their_scores() -> None:
    # Rows 0-5: a passes, b fails. Row 6: judge error for b. Row 7: judge error for a.
    a = _pf("111111" + "1" + "J")
    b = _pf("000000" + "J" + "0")
    ranking = rank_models({"a": a, "b": b}, _pass_fail())
    assert ranking.comparison is not None
    assert ranking.comparison.n_pairs == 6
    # 6 discordant rows all for a: p = 2 / 2^6 = 0.03125
    assert ranking.p_value == pytest.approx(0.03125)
    assert ranking.winner_significant is True


def test_no_common_rows_cannot_be_tested() -> None:
    ranking = rank_models({"a": _pf("11JJ"), "b": _pf("JJ10")}, _pass_fail())
    assert ranking.winner_significant is False
    assert ranking.p_value is None
    assert "cannot be tested" in ranking.verdict


def test_costs_latencies_and_partial_runs() -> None:
    rows = [
        RowOutcome("r0", score=1.0, latency_ms=100.0, cost_usd=0.01, judge_cost_usd=0.001),
        RowOutcome("r1", score=0.0, latency_ms=200.0, cost_usd=0.02, judge_cost_usd=0.001),
        RowOutcome("r2", score=1.0, latency_ms=300.0, cost_usd=None),
        RowOutcome("r3", score=1.0, latency_ms=400.0, cost_usd=0.03),
        RowOutcome("r4", error="call_failed", latency_ms=60_000.0, cost_usd=0.0),
    ]
    ranking = rank_models({"a": rows, "b": _pf("0000")}, _pass_fail(), dataset_rows=8)
    a = _row(ranking, "a")
    # r2's cost is unknown: the model's cost is unknown (None, never a sum passed off as whole);
    # r4 failed without a bill. The known part stays readable.
    assert a.cost_usd is None and a.cost_per_row_usd is None
    assert a.cost_known_usd == pytest.approx(0.06)
    assert a.cost_unknown_rows == 1
    assert a.judge_cost_usd == pytest.approx(0.002)
    # The failed call's 60 s timeout is not a latency of an answer: p50 over 100..400 = 250,
    # p95 = 300 + 0.85 * 100 = 385.
    assert (a.latency_p50_ms, a.latency_p95_ms) == (250.0, 385.0)
    assert a.not_run == 3
    assert _row(ranking, "b").not_run == 4


def test_graded_ranking_uses_bootstrap_and_sign_flip_and_is_deterministic() -> None:
    def graded(scores: list[float], prefix: str = "r") -> list[RowOutcome]:
        return [RowOutcome(f"{prefix}{i}", score=s, cost_usd=0.001, latency_ms=100.0) for i, s in enumerate(scores)]

    good = graded([0.9, 0.8, 1.0, 0.7, 0.9, 0.8, 1.0, 0.9, 0.6, 0.9] * 5)
    worse = graded([0.5, 0.6, 0.4, 0.7, 0.5, 0.3, 0.6, 0.5, 0.6, 0.4] * 5)
    options = RankingOptions(metric="graded", seed="run_42", bootstrap_resamples=500, permutation_resamples=999)
    first = rank_models({"good": good, "worse": worse}, options)
    second = rank_models({"worse": worse, "good": good}, options)
    assert first.model_dump() == second.model_dump()  # model order of the input does not matter
    top = first.rows[0]
    assert top.model_id == "good" and top.score == pytest.approx(0.85)
    assert top.ci_low < 0.85 < top.ci_high
    assert first.metric == "mean_score"
    assert first.comparison is not None and first.comparison.test == "paired_sign_flip"
    # Every one of the 50 differences is positive: no sampled sign pattern is as extreme, so
    # p = 1 / (1 + 999) = 0.001.
    assert first.p_value == pytest.approx(0.001)
    assert first.winner_significant is True
    other_seed = rank_models({"good": good, "worse": worse}, RankingOptions(metric="graded", seed="run_43"))
    assert other_seed.rows[0].ci_low != top.ci_low or other_seed.rows[0].ci_high != top.ci_high


def test_inconsistent_or_duplicated_rows_are_refused() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        RowOutcome("r", score=1.0, error="call_failed")
    with pytest.raises(ValueError, match="exactly one"):
        RowOutcome("r")
    with pytest.raises(ValueError, match="0..1"):
        RowOutcome("r", score=1.5)
    with pytest.raises(ValueError, match="unknown error"):
        RowOutcome("r", error="oops")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="appears twice"):
        rank_models({"a": _pf("1") + _pf("0")}, _pass_fail())
    with pytest.raises(ValueError, match="pass/fail"):
        rank_models({"a": [RowOutcome("r", score=0.5)]}, _pass_fail())


def test_options_from_settings() -> None:
    settings = EvaluationSettings(near_tie_epsilon=0.05, bootstrap_resamples=200)
    options = RankingOptions.from_settings(settings, "graded", seed="run_1")
    assert (options.near_tie_epsilon, options.bootstrap_resamples, options.seed) == (0.05, 200, "run_1")
    assert options.alpha == settings.significance_alpha


@pytest.mark.parametrize(
    "overrides",
    [
        {"metric": "vibes"},
        {"metric": "graded", "alpha": 0.0},
        {"metric": "graded", "confidence": 1.0},
        {"metric": "graded", "near_tie_epsilon": -0.1},
        {"metric": "graded", "bootstrap_resamples": 0},
    ],
)
def test_invalid_ranking_options_are_refused(overrides: dict) -> None:
    with pytest.raises(ValueError):
        RankingOptions(**overrides)


def test_an_unknown_cost_neither_wins_nor_loses_a_near_tie() -> None:
    # Both perfect (a near-tie); b's endpoint reports no usage, so its cost is unknown. Cost is
    # not compared at all: latency decides, whichever side the unknown cost is on.
    known_slow = _pf("1" * 20, cost=0.001, latency=300.0)
    unknown_fast = [RowOutcome(f"r{i}", score=1.0, latency_ms=100.0, cost_usd=None) for i in range(20)]
    ranking = rank_models({"a": known_slow, "b": unknown_fast}, _pass_fail(), models={"b": {"name": "B model"}})
    assert [r.model_id for r in ranking.rows] == ["b", "a"]
    assert _row(ranking, "b").cost_usd is None and _row(ranking, "b").cost_unknown_rows == 20
    assert _row(ranking, "b").tie_broken_by == "latency"
    assert "$0.000000" not in ranking.verdict and "cost was not compared" in ranking.verdict
    assert ranking.verdict.startswith("B model and a are a near-tie")
    known_fast = _pf("1" * 20, cost=0.001, latency=100.0)
    unknown_slow = [RowOutcome(f"r{i}", score=1.0, latency_ms=300.0, cost_usd=None) for i in range(20)]
    ranking = rank_models({"a": known_fast, "b": unknown_slow}, _pass_fail())
    assert [r.model_id for r in ranking.rows] == ["a", "b"] and _row(ranking, "a").tie_broken_by == "latency"


def test_rows_and_verdict_name_the_models() -> None:
    ranking = rank_models(
        {"mdl_a": _pf("1" * 30), "mdl_b": _pf("0" * 30)},
        _pass_fail(),
        models={"mdl_a": {"name": "sandbox/arithmetic-exact", "platform": "openrouter"},
                "mdl_b": {"name": "sandbox/off-by-one", "platform": "openrouter"}},
    )  # fmt: skip
    assert (ranking.rows[0].name, ranking.rows[0].platform) == ("sandbox/arithmetic-exact", "openrouter")
    assert ranking.verdict.startswith("sandbox/arithmetic-exact is significantly better than sandbox/off-by-one")
    assert "mdl_" not in ranking.verdict and ranking.winner_model_id == "mdl_a"
