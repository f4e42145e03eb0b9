"""From per-row results of each model to the ranking stored in the run record.

Rules (docs/evaluation.md explains why):
- A row's outcome is a score in 0..1 (pass/fail: 1 or 0) or one error:
  ``call_failed`` (the candidate's call failed after the provider layer's retries),
  ``judge_error`` (judge refused or answered malformed after retries, or the judge call failed),
  ``scoring_error`` (the row could not be scored: no expected answer, invalid row pattern, ...).
- ``call_failed`` is the model's failure: by default it counts as a 0 in the score (a model
  that does not answer must not outrank one that does), and it is reported in ``call_errors``.
  ``judge_error`` and ``scoring_error`` are not the model's fault: the row is left out of that
  model's score (never a zero) and reported in ``judge_errors`` / ``scoring_errors``.
  ``errors`` is the sum of the three; ``n`` is the number of rows in the score.
- Order by score. Near-tie: a model whose score is within ``near_tie_epsilon`` of the best
  remaining score joins that model's tie group; a group is ordered by cost per row, then
  latency p50, then score. Cost decides only when every member's cost is known: an unknown
  cost is neither cheap nor dear, so a group with one skips cost and starts at latency.
  Models with no scored row come last.
- Unknown cost is ``None``, never 0: ``cost_usd`` (and ``cost_per_row_usd``) is None as soon
  as one answered call has no known cost (no ``usage.cost`` and no price), ``judge_cost_usd``
  likewise for judge calls. A failed call without a cost counts as costing nothing (providers
  do not bill an error answer). ``cost_known_usd`` is the sum of the known costs.
- Rows carry the model's ``name`` and ``platform`` when the caller gives them, and the verdict
  names models by name (ids stay in the fields).
- The winner is compared with the runner-up by a paired test on the rows both have in their
  scores; the ranking says plainly whether the lead is significant.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

from drgero.evaluation import stats

Metric = Literal["pass_fail", "graded"]
RowError = Literal["call_failed", "judge_error", "scoring_error"]
ROW_ERRORS: frozenset[str] = frozenset({"call_failed", "judge_error", "scoring_error"})
_SCORE_SLACK = 1e-12  # float noise allowed when comparing score differences to epsilon


@dataclass(frozen=True, slots=True)
class RowOutcome:
    """One (model, row) result as the pipeline recorded it."""

    row_id: str
    score: float | None = None
    error: RowError | None = None
    latency_ms: float | None = None  # the candidate call's latency
    cost_usd: float | None = None  # the candidate call's cost (a failed call may still cost)
    judge_cost_usd: float | None = None
    judge_cost_unknown: bool = False  # a judge call of this row had no known cost

    def __post_init__(self) -> None:
        if (self.score is None) == (self.error is None):
            raise ValueError(f"row {self.row_id!r}: exactly one of score and error must be set")
        if self.error is not None and self.error not in ROW_ERRORS:
            raise ValueError(f"row {self.row_id!r}: unknown error kind {self.error!r}")
        if self.score is not None and not (math.isfinite(self.score) and 0.0 <= self.score <= 1.0):
            raise ValueError(f"row {self.row_id!r}: score must be within 0..1, got {self.score}")


@dataclass(frozen=True)
class RankingOptions:
    metric: Metric
    confidence: float = 0.95
    alpha: float = 0.05
    near_tie_epsilon: float = 0.02
    bootstrap_resamples: int = 1000
    permutation_resamples: int = 2000
    call_errors_count_as_failures: bool = True
    seed: str = ""  # e.g. the run id: the same run always gives the same intervals and p-values

    def __post_init__(self) -> None:
        if self.metric not in ("pass_fail", "graded"):
            raise ValueError(f"unknown metric {self.metric!r}")
        if not (0.0 < self.confidence < 1.0 and 0.0 < self.alpha < 1.0):
            raise ValueError("confidence and alpha must be between 0 and 1")
        if not 0.0 <= self.near_tie_epsilon <= 1.0:
            raise ValueError("near_tie_epsilon must be between 0 and 1")
        if self.bootstrap_resamples < 1 or self.permutation_resamples < 1:
            raise ValueError("resample counts must be positive")

    @classmethod
    def from_settings(cls, evaluation_settings: Any, metric: Metric, seed: str) -> RankingOptions:
        s = evaluation_settings
        return cls(
            metric=metric,
            confidence=s.confidence_level,
            alpha=s.significance_alpha,
            near_tie_epsilon=s.near_tie_epsilon,
            bootstrap_resamples=s.bootstrap_resamples,
            permutation_resamples=s.permutation_resamples,
            call_errors_count_as_failures=s.call_errors_count_as_failures,
            seed=seed,
        )


class RankingRow(BaseModel):
    # The contract's fields.
    model_id: str
    rank: int
    score: float | None
    ci_low: float | None
    ci_high: float | None
    n: int
    errors: int
    cost_usd: float | None  # None when a cost is unknown (never 0 for "unknown")
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    # Extras.
    rows_total: int  # outcomes received for this model
    n_scored: int  # rows with a real score (n minus call failures counted as 0)
    call_errors: int
    judge_errors: int
    scoring_errors: int
    not_run: int | None  # rows of the dataset with no outcome (cancelled / partial run)
    cost_per_row_usd: float | None
    cost_unknown_rows: int  # answered calls without a known cost (cost_usd is then None)
    cost_known_usd: float  # the sum of the known costs (a lower bound when some are unknown)
    judge_cost_usd: float | None
    judge_cost_unknown_rows: int
    name: str | None = None
    platform: str | None = None
    tie_group: int | None  # models sharing a tie group were ordered by cost, then latency
    tie_broken_by: Literal["cost", "latency", "score", "model_id"] | None


class Comparison(BaseModel):
    winner_model_id: str
    runner_up_model_id: str
    test: Literal["mcnemar_exact", "paired_sign_flip"]
    n_pairs: int
    winner_mean: float | None
    runner_up_mean: float | None
    mean_difference: float | None  # winner minus runner-up on the paired rows
    p_value: float | None
    exact: bool
    near_tie: bool


class Ranking(BaseModel):
    metric: Literal["pass_rate", "mean_score"]
    rows: list[RankingRow]
    winner_model_id: str | None
    winner_significant: bool
    p_value: float | None
    verdict: str
    comparison: Comparison | None
    confidence: float
    alpha: float
    near_tie_epsilon: float
    call_errors_count_as_failures: bool
    bootstrap_resamples: int | None


@dataclass
class _Aggregate:
    model_id: str
    values: dict[str, float]  # row_id -> value in the score
    row: dict[str, Any]


def rank_models(
    results: Mapping[str, Sequence[RowOutcome]],
    options: RankingOptions,
    dataset_rows: int | None = None,
    models: Mapping[str, Mapping[str, Any]] | None = None,
) -> Ranking:
    """Rank the models of one run. ``results`` maps model id -> its row outcomes (each row at
    most once: the pipeline deduplicates deliveries; a duplicate here is a bug and raises).
    ``models`` maps model id -> ``{"name", "platform"}`` (rows and verdict name the models)."""
    aggregates = [_aggregate(model_id, rows, options, dataset_rows) for model_id, rows in results.items()]
    for agg in aggregates:
        info = (models or {}).get(agg.model_id) or {}
        agg.row["name"] = info.get("name") or None
        agg.row["platform"] = info.get("platform") or None
    ordered = _order(aggregates, options.near_tie_epsilon)
    rows = [RankingRow(rank=index + 1, **_rounded(agg.row)) for index, agg in enumerate(ordered)]
    comparison, significant, verdict = _verdict(ordered, options)
    return Ranking(
        metric="pass_rate" if options.metric == "pass_fail" else "mean_score",
        rows=rows,
        winner_model_id=rows[0].model_id if rows and rows[0].score is not None else None,
        winner_significant=significant,
        p_value=comparison.p_value if comparison else None,
        verdict=verdict,
        comparison=comparison,
        confidence=options.confidence,
        alpha=options.alpha,
        near_tie_epsilon=options.near_tie_epsilon,
        call_errors_count_as_failures=options.call_errors_count_as_failures,
        bootstrap_resamples=options.bootstrap_resamples if options.metric == "graded" else None,
    )


def _rounded(row: dict[str, Any]) -> dict[str, Any]:
    """Presentation rounding (ordering used the exact values): 6 decimals for scores and
    intervals, 0.1 ms for latencies."""
    out = dict(row)
    for key in ("score", "ci_low", "ci_high"):
        if out[key] is not None:
            out[key] = round(out[key], 6)
    for key in ("latency_p50_ms", "latency_p95_ms"):
        if out[key] is not None:
            out[key] = round(out[key], 1)
    return out


def _aggregate(
    model_id: str, outcomes: Sequence[RowOutcome], options: RankingOptions, dataset_rows: int | None
) -> _Aggregate:
    values: dict[str, float] = {}
    seen: set[str] = set()
    counts = {"call_failed": 0, "judge_error": 0, "scoring_error": 0}
    latencies: list[float] = []
    cost = 0.0
    judge_cost = 0.0
    cost_unknown = 0
    judge_unknown = 0
    for outcome in outcomes:
        if outcome.row_id in seen:
            raise ValueError(f"model {model_id!r}: row {outcome.row_id!r} appears twice")
        seen.add(outcome.row_id)
        if outcome.error is not None:
            counts[outcome.error] += 1
        if outcome.score is not None:
            if options.metric == "pass_fail" and outcome.score not in (0.0, 1.0):
                raise ValueError(f"model {model_id!r}: pass/fail row {outcome.row_id!r} has score {outcome.score}")
            values[outcome.row_id] = outcome.score
        elif outcome.error == "call_failed" and options.call_errors_count_as_failures:
            values[outcome.row_id] = 0.0
        if outcome.error != "call_failed" and outcome.latency_ms is not None:
            latencies.append(outcome.latency_ms)
        if outcome.cost_usd is not None:
            cost += outcome.cost_usd
        elif outcome.error != "call_failed":  # an error answer is not billed
            cost_unknown += 1
        judge_cost += outcome.judge_cost_usd or 0.0
        judge_unknown += 1 if outcome.judge_cost_unknown else 0

    n = len(values)
    score = ci_low = ci_high = None
    if n:
        total = sum(values.values())
        score = total / n
        if options.metric == "pass_fail":
            ci_low, ci_high = stats.wilson_interval(round(total), n, options.confidence)
        else:
            ci_low, ci_high = stats.bootstrap_mean_ci(
                list(values.values()),
                resamples=options.bootstrap_resamples,
                confidence=options.confidence,
                seed=stats.seed_from(options.seed, model_id, "bootstrap"),
            )
    rows_total = len(seen)
    row = {
        "model_id": model_id,
        "score": score,
        "ci_low": ci_low,
        "ci_high": ci_high,
        "n": n,
        "errors": sum(counts.values()),
        "cost_usd": round(cost, 10) if not cost_unknown else None,
        "latency_p50_ms": stats.percentile(latencies, 50) if latencies else None,
        "latency_p95_ms": stats.percentile(latencies, 95) if latencies else None,
        "rows_total": rows_total,
        "n_scored": n - (counts["call_failed"] if options.call_errors_count_as_failures else 0),
        "call_errors": counts["call_failed"],
        "judge_errors": counts["judge_error"],
        "scoring_errors": counts["scoring_error"],
        "not_run": max(0, dataset_rows - rows_total) if dataset_rows is not None else None,
        "cost_per_row_usd": round(cost / rows_total, 12) if rows_total and not cost_unknown else None,
        "cost_unknown_rows": cost_unknown,
        "cost_known_usd": round(cost, 10),
        "judge_cost_usd": round(judge_cost, 10) if not judge_unknown else None,
        "judge_cost_unknown_rows": judge_unknown,
        "tie_group": None,
        "tie_broken_by": None,
    }
    return _Aggregate(model_id=model_id, values=values, row=row)


def _order(aggregates: list[_Aggregate], epsilon: float) -> list[_Aggregate]:
    scored = sorted((a for a in aggregates if a.row["score"] is not None), key=lambda a: (-a.row["score"], a.model_id))
    unscored = sorted((a for a in aggregates if a.row["score"] is None), key=lambda a: a.model_id)
    ordered: list[_Aggregate] = []
    group_number = 0
    while scored:
        leader_score = scored[0].row["score"]
        # Anchored at the group's best score (no chaining: A~B and B~C does not pull in C
        # unless C is within epsilon of A).
        group = [a for a in scored if leader_score - a.row["score"] <= epsilon + _SCORE_SLACK]
        scored = scored[len(group) :]
        if len(group) > 1:
            group_number += 1
            use_cost = all(a.row["cost_per_row_usd"] is not None for a in group)
            group.sort(key=lambda a: _tie_key(a, use_cost))
            for previous, current in zip(group, group[1:], strict=False):
                current.row["tie_broken_by"] = _decided_by(previous, current, use_cost)
            group[0].row["tie_broken_by"] = _decided_by(group[0], group[1], use_cost)
            for agg in group:
                agg.row["tie_group"] = group_number
        ordered.extend(group)
    return ordered + unscored


def _tie_key(agg: _Aggregate, use_cost: bool) -> tuple[float, float, float, str]:
    latency = agg.row["latency_p50_ms"]
    return (
        agg.row["cost_per_row_usd"] if use_cost else 0.0,
        latency if latency is not None else math.inf,
        -agg.row["score"],
        agg.model_id,
    )


def _decided_by(
    first: _Aggregate, second: _Aggregate, use_cost: bool
) -> Literal["cost", "latency", "score", "model_id"]:
    """Which tie-break key first separates two neighbours of a tie group."""
    a_key, b_key = _tie_key(first, use_cost)[:3], _tie_key(second, use_cost)[:3]
    for name, a, b in zip(("cost", "latency", "score"), a_key, b_key, strict=True):
        if a != b:
            return name  # type: ignore[return-value]
    return "model_id"


def _verdict(ordered: list[_Aggregate], options: RankingOptions) -> tuple[Comparison | None, bool, str]:
    scored = [a for a in ordered if a.row["score"] is not None]
    if not scored:
        return None, False, "No model could be scored, so there is no winner."
    winner = scored[0]
    if len(scored) == 1:
        return None, False, f"Only {_name(winner)} could be scored; there is no runner-up to compare with."
    runner = scored[1]
    near_tie = winner.row["tie_group"] is not None and winner.row["tie_group"] == runner.row["tie_group"]
    common = sorted(winner.values.keys() & runner.values.keys())
    test_name: Literal["mcnemar_exact", "paired_sign_flip"] = (
        "mcnemar_exact" if options.metric == "pass_fail" else "paired_sign_flip"
    )
    if not common:
        comparison = Comparison(
            winner_model_id=winner.model_id,
            runner_up_model_id=runner.model_id,
            test=test_name,
            n_pairs=0,
            winner_mean=None,
            runner_up_mean=None,
            mean_difference=None,
            p_value=None,
            exact=True,
            near_tie=near_tie,
        )
        return (
            comparison,
            False,
            (
                f"{_name(winner)} ranks first, but no row was scored for both it and {_name(runner)}, "
                "so whether it is better cannot be tested."
            ),
        )
    a = [winner.values[row_id] for row_id in common]
    b = [runner.values[row_id] for row_id in common]
    if options.metric == "pass_fail":
        test = stats.paired_pass_fail_test(a, b)
    else:
        test = stats.paired_sign_flip_test(
            a,
            b,
            resamples=options.permutation_resamples,
            seed=stats.seed_from(options.seed, winner.model_id, runner.model_id, "paired"),
        )
    comparison = Comparison(
        winner_model_id=winner.model_id,
        runner_up_model_id=runner.model_id,
        test=test.method,
        n_pairs=test.n_pairs,
        winner_mean=sum(a) / len(a),
        runner_up_mean=sum(b) / len(b),
        mean_difference=test.mean_difference,
        p_value=test.p_value,
        exact=test.exact,
        near_tie=near_tie,
    )
    significant = (not near_tie) and test.mean_difference > 0 and test.p_value < options.alpha
    return comparison, significant, _sentence(winner, runner, comparison, significant, options)


def _name(agg: _Aggregate) -> str:
    return agg.row.get("name") or agg.model_id


def _pct(value: float) -> str:
    return f"{value * 100:.1f}%"


def _sentence(
    winner: _Aggregate, runner: _Aggregate, comparison: Comparison, significant: bool, options: RankingOptions
) -> str:
    w, r = _name(winner), _name(runner)
    test = "McNemar exact test" if comparison.test == "mcnemar_exact" else "paired sign-flip permutation test"
    p = f"p = {comparison.p_value:.3g}"
    on_rows = (
        f"{_pct(comparison.winner_mean or 0.0)} vs {_pct(comparison.runner_up_mean or 0.0)} "
        f"on the {comparison.n_pairs} rows scored for both"
    )
    if comparison.near_tie:
        decided = winner.row["tie_broken_by"]
        cost_known = winner.row["cost_per_row_usd"] is not None and runner.row["cost_per_row_usd"] is not None
        why = {
            "cost": (
                f"it is cheaper per row (${winner.row['cost_per_row_usd']:.6f} vs "
                f"${runner.row['cost_per_row_usd']:.6f})"
                if cost_known
                else "it is cheaper per row"
            ),
            "latency": (
                "it is as cheap and faster (lower median latency)"
                if cost_known
                # An unknown cost is neither cheap nor dear: the group skipped cost.
                else "it is faster (lower median latency); cost was not compared because a cost is unknown"
            ),
            "score": "cost and latency are equal and its score is higher",
            "model_id": "everything else is equal (order by model id)",
        }[decided or "model_id"]
        return (
            f"{w} and {r} are a near-tie: their scores ({_pct(winner.row['score'])} vs {_pct(runner.row['score'])}) "
            f"differ by no more than {_pct(options.near_tie_epsilon)}. {w} ranks first because {why}. "
            + (
                f"The score difference is statistically detectable ({test}, {p}) but smaller than the "
                "near-tie margin, so it is not treated as a real lead."
                if comparison.p_value is not None and comparison.p_value < options.alpha
                else f"Neither is significantly better ({test}, {p})."
            )
        )
    if significant:
        return f"{w} is significantly better than {r}: {on_rows} ({test}, {p} < {options.alpha:g})."
    return (
        f"{w} ranks first, but its lead over {r} is not statistically significant: {on_rows} "
        f"({test}, {p}, threshold {options.alpha:g}). On this dataset the lead could be chance."
    )
