"""Evaluation core: ranking statistics, exact-match and judge-parsing throughput (pure Python).

- ``rank/<metric>/<rows>x<models>``: ``rank_models`` on synthetic results with the default
  resample counts (bootstrap 1,000, sign-flip 2,000): the aggregation step of a run.
  ``graded`` scores take 6 levels (count-based resampling); ``continuous`` scores are all
  distinct (row-by-row resampling, the slow path).
- ``exact/<mode>``: ``ExactScorer.score`` over 1,000 typical outputs.
- ``judge/parse``: ``parse_judge_answer`` over 1,000 typical judge answers.
- ``adversarial/<case>``: one ~100k-character input shaped to make naive patterns backtrack
  quadratically; these should stay in the milliseconds.

Median, min and max over ``BENCH_EVALUATION_CORE_RUNS`` runs (default 5) after one warm-up.

Baseline beside each figure (``baseline_ms``, one timed run, and ``ratio`` = ours / baseline):
- ``rank``: the textbook percentile bootstrap written plainly (1,000 resamples of every model's
  mean score with ``random.choices``), confidence intervals only (no paired tests), the
  1,000-row cases (at 10,000 rows it takes tens of seconds);
- ``exact``, ``judge`` and ``adversarial``: the floor any scorer pays, ``strip().casefold() ==``
  over the same outputs (one pass over the text).
"""

from __future__ import annotations

import os
import random
import statistics
import time
from collections.abc import Callable

RUNS = int(os.environ.get("BENCH_EVALUATION_CORE_RUNS", "5"))


def _time(work: Callable[[], object]) -> dict[str, float]:
    work()  # warm-up
    samples = []
    for _ in range(RUNS):
        started = time.perf_counter()
        work()
        samples.append((time.perf_counter() - started) * 1000.0)
    return {"median_ms": statistics.median(samples), "min_ms": min(samples), "max_ms": max(samples)}


def _results(metric: str, rows: int, models: int) -> dict[str, list]:
    from drgero.evaluation.ranking import RowOutcome

    rng = random.Random(7)
    results = {}
    for m in range(models):
        outcomes = []
        for i in range(rows):
            if rng.random() < 0.01:
                outcomes.append(RowOutcome(f"r{i}", error="call_failed", latency_ms=30_000.0, cost_usd=0.0))
                continue
            if metric == "pass_fail":
                score = float(rng.random() < 0.6 + 0.05 * m)
            elif metric == "graded":
                score = rng.choice([0.0, 0.2, 0.4, 0.6, 0.8, 1.0])
            else:  # continuous: every score distinct, the row-by-row resampling path
                score = rng.random()
            outcomes.append(RowOutcome(f"r{i}", score=score, latency_ms=rng.uniform(50, 900), cost_usd=0.0004))
        results[f"model-{m}"] = outcomes
    return results


def _once_ms(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return (time.perf_counter() - started) * 1000.0


def _plain_bootstrap(results: dict[str, list], resamples: int = 1_000) -> None:
    """Percentile bootstrap of each model's mean score, written plainly (the baseline)."""
    rng = random.Random(7)
    for outcomes in results.values():
        scores = [o.score for o in outcomes if o.score is not None]
        means = sorted(sum(rng.choices(scores, k=len(scores))) / len(scores) for _ in range(resamples))
        _ = (means[int(0.025 * resamples)], means[int(0.975 * resamples) - 1])


def _floor(outputs: list[str], expected: str) -> None:
    wanted = expected.strip().casefold()
    for output in outputs:
        _ = output.strip().casefold() == wanted


def _with_baseline(row: dict, baseline_ms: float | None) -> dict:
    row["baseline_ms"] = baseline_ms
    row["ratio"] = round(row["median_ms"] / baseline_ms, 3) if baseline_ms else None
    return row


def run() -> list[dict]:
    from drgero.evaluation.exact import ExactMatchOptions, ExactScorer
    from drgero.evaluation.judge import parse_judge_answer
    from drgero.evaluation.ranking import RankingOptions, rank_models

    rows: list[dict] = []
    for metric, n_rows, n_models in (
        ("pass_fail", 1_000, 4),
        ("graded", 1_000, 4),
        ("graded", 10_000, 4),
        ("continuous", 1_000, 4),
    ):
        results = _results(metric, n_rows, n_models)
        ranking_metric = "pass_fail" if metric == "pass_fail" else "graded"
        options = RankingOptions(metric=ranking_metric, seed="bench")  # type: ignore[arg-type]
        timing = _time(lambda r=results, o=options: rank_models(r, o))
        baseline = _once_ms(lambda r=results: _plain_bootstrap(r)) if n_rows <= 1_000 else None
        rows.append(_with_baseline({"case": f"rank/{metric}/{n_rows}x{n_models}", **timing}, baseline))

    typical = {
        "text": ([f"  Answer {i % 7} " for i in range(1000)], "Answer 3", {"ignore_case": True}),
        "number": ([f"The total is {i},250.5 dollars." for i in range(1000)], "3250.5", {}),
        "json": ([f'```json\n{{"id": {i}, "tags": ["a", "b"]}}\n```' for i in range(1000)], '{"id": 3}', {}),
        "choice": ([f"Reasoning... Final answer: ({'ABCDE'[i % 5]})" for i in range(1000)], "C", {}),
        "regex": ([f"order #{i:05d} shipped" for i in range(1000)], r"#\d{5}\b", {}),
    }
    for mode, (outputs, expected, extra) in typical.items():
        scorer = ExactScorer(ExactMatchOptions(mode=mode, **extra))  # type: ignore[arg-type]
        timing = _time(lambda s=scorer, o=outputs, e=expected: [s.score(x, e) for x in o])
        baseline = _once_ms(lambda o=outputs, e=expected: _floor(o, e))
        rows.append(_with_baseline({"case": f"exact/{mode} x1000", **timing}, baseline))

    answers = [
        '{"score": 7, "reason": "mostly right"}',
        "The answer misses one step.\n**Score:** 6/10",
        'Sure!\n```json\n{"score": 9, "reason": "good"}\n```',
        "I cannot evaluate this.",
    ] * 250
    timing = _time(lambda: [parse_judge_answer(a, "0-10") for a in answers])
    rows.append(_with_baseline({"case": "judge/parse x1000", **timing}, _once_ms(lambda: _floor(answers, "7"))))

    adversarial_inputs = {
        "choice/whitespace": " " * 100_000 + "x",
        "choice/marker+whitespace": "answer" + " " * 100_000 + "x",
        "number/comma-run": "1" + ",111" * 25_000 + ",1",
        "json/open-braces": "{" * 100_000,
        "judge/whitespace": "7" + " " * 49_000 + "x",
    }
    adversarial = {
        "choice/whitespace": lambda: ExactScorer(ExactMatchOptions(mode="choice")).score(" " * 100_000 + "x", "A"),
        "choice/marker+whitespace": lambda: ExactScorer(ExactMatchOptions(mode="choice")).score(
            "answer" + " " * 100_000 + "x", "A"
        ),
        "number/comma-run": lambda: ExactScorer(ExactMatchOptions(mode="number")).score(
            "1" + ",111" * 25_000 + ",1", "1"
        ),
        "json/open-braces": lambda: ExactScorer(ExactMatchOptions(mode="json")).score("{" * 100_000, "{}"),
        "judge/whitespace": lambda: parse_judge_answer("7" + " " * 49_000 + "x", "0-10"),
    }
    for name, work in adversarial.items():
        baseline = _once_ms(lambda t=adversarial_inputs[name]: _floor([t], "A"))
        rows.append(_with_baseline({"case": f"adversarial/{name}", **_time(work)}, baseline))
    return rows
