"""Statistics against values computed by hand (the computation is in the comments)."""

from __future__ import annotations

import pytest

from drgero.evaluation.stats import (
    bootstrap_mean_ci,
    mcnemar_exact,
    paired_pass_fail_test,
    paired_sign_flip_test,
    percentile,
    seed_from,
    wilson_interval,
    z_value,
)

# z for 95%: the 0.975 normal quantile = 1.959964; z^2 = 3.841459.


def test_z_value() -> None:
    assert z_value(0.95) == pytest.approx(1.959964, abs=1e-6)
    with pytest.raises(ValueError):
        z_value(1.0)


def test_wilson_8_of_10() -> None:
    # p = 0.8, n = 10. denominator = 1 + 3.841459/10 = 1.3841459
    # center = (0.8 + 3.841459/20) / 1.3841459 = 0.99207295 / 1.3841459 = 0.716738
    # half   = 1.959964 * sqrt(0.8*0.2/10 + 3.841459/400) / 1.3841459
    #        = 1.959964 * sqrt(0.02560365) / 1.3841459 = 1.959964 * 0.1600114 / 1.3841459 = 0.226577
    # -> [0.490161, 0.943315]
    low, high = wilson_interval(8, 10)
    assert low == pytest.approx(0.490161, abs=1e-5)
    assert high == pytest.approx(0.943315, abs=1e-5)


def test_wilson_0_of_10() -> None:
    # p = 0: center = 0.19207295 / 1.3841459 = 0.138767
    # half = 1.959964 * sqrt(3.841459/400) / 1.3841459 = 1.959964 * 0.0979982 / 1.3841459 = 0.138767
    # -> [0, 0.277535]  (the Wald interval would be [0, 0]: no uncertainty at all, wrongly)
    assert wilson_interval(0, 10) == (0.0, pytest.approx(0.277535, abs=1e-5))


def test_wilson_10_of_10() -> None:
    # Mirror image of 0/10: [1 - 0.277535, 1] = [0.722465, 1]
    assert wilson_interval(10, 10) == (pytest.approx(0.722465, abs=1e-5), 1.0)


def test_wilson_rejects_impossible_counts() -> None:
    for successes, n in ((0, 0), (11, 10), (-1, 10)):
        with pytest.raises(ValueError):
            wilson_interval(successes, n)


def test_percentile_linear_interpolation() -> None:
    # [100, 200, 300, 400]: p50 -> h = 3 * 0.5 = 1.5 -> 200 + 0.5 * 100 = 250
    #                       p95 -> h = 3 * 0.95 = 2.85 -> 300 + 0.85 * 100 = 385
    values = [400.0, 100.0, 300.0, 200.0]
    assert percentile(values, 50) == pytest.approx(250.0)
    assert percentile(values, 95) == pytest.approx(385.0)
    # 1..10: p95 -> h = 9 * 0.95 = 8.55 -> 9 + 0.55 * 1 = 9.55
    assert percentile([float(i) for i in range(1, 11)], 95) == pytest.approx(9.55)
    assert percentile([5.0], 95) == 5.0
    with pytest.raises(ValueError):
        percentile([], 50)


def test_mcnemar_exact_known_discordant_counts() -> None:
    # b = 10, c = 2: m = 12, P(X <= 2) = (C(12,0) + C(12,1) + C(12,2)) / 2^12 = (1 + 12 + 66) / 4096
    #                = 79 / 4096; two-sided p = 2 * 79 / 4096 = 0.0385742
    assert mcnemar_exact(10, 2) == pytest.approx(0.0385742, abs=1e-7)
    assert mcnemar_exact(2, 10) == mcnemar_exact(10, 2)
    # b = 5, c = 0: 2 * 1/32 = 0.0625 (five wins out of five is not enough at alpha = 0.05)
    assert mcnemar_exact(5, 0) == pytest.approx(0.0625)
    # b = 6, c = 0: 2 * 1/64 = 0.03125
    assert mcnemar_exact(6, 0) == pytest.approx(0.03125)
    # b = c: the tail sum reaches past half, p capped at 1
    assert mcnemar_exact(3, 3) == 1.0
    # no discordant rows: no evidence either way
    assert mcnemar_exact(0, 0) == 1.0


def test_mcnemar_handles_thousands_of_discordant_rows() -> None:
    assert mcnemar_exact(1100, 900) < 1e-5
    assert mcnemar_exact(1000, 1000) == 1.0


def test_paired_pass_fail_counts_only_discordant_rows() -> None:
    # rows: (1,0) x10, (0,1) x2, (1,1) x5, (0,0) x3 -> b = 10, c = 2 as above
    first = [1.0] * 10 + [0.0] * 2 + [1.0] * 5 + [0.0] * 3
    second = [0.0] * 10 + [1.0] * 2 + [1.0] * 5 + [0.0] * 3
    result = paired_pass_fail_test(first, second)
    assert result.method == "mcnemar_exact"
    assert result.n_pairs == 20
    assert result.mean_difference == pytest.approx((10 - 2) / 20)
    assert result.p_value == pytest.approx(0.0385742, abs=1e-7)


def test_sign_flip_exact_small_samples() -> None:
    # d = [1, 1, 1, 1, 1]: |T| = 5 only for all-plus and all-minus: 2 / 2^5 = 0.0625 (= sign test)
    assert paired_sign_flip_test([1.0] * 5, [0.0] * 5).p_value == pytest.approx(0.0625)
    # d = [.5, .5, .5, -.5]: T = 1; |sum| >= 1 when #plus in {0, 1, 3, 4}: (1 + 4 + 4 + 1) / 16 = 0.625
    result = paired_sign_flip_test([1.0, 1.0, 1.0, 0.0], [0.5, 0.5, 0.5, 0.5])
    assert result.p_value == pytest.approx(0.625)
    assert result.exact
    # d = [.3, .2, .1]: sums of the 8 sign patterns: .6 .4 .2 0 0 -.2 -.4 -.6; |s| >= .6 twice -> 2/8
    result = paired_sign_flip_test([0.9, 0.7, 0.5], [0.6, 0.5, 0.4])
    assert result.p_value == pytest.approx(0.25)
    assert result.mean_difference == pytest.approx(0.2)
    # zero differences carry no information and are skipped; all zero -> p = 1
    assert paired_sign_flip_test([0.5, 0.7], [0.5, 0.7]).p_value == 1.0


def test_sign_flip_monte_carlo_is_seeded_and_bounded_away_from_zero() -> None:
    # 40 rows, all +0.1: only the two all-same-sign patterns are as extreme; Monte Carlo almost
    # never draws them, so p = (1 + 0) / (1 + 999) = 0.001 (never 0).
    result = paired_sign_flip_test([0.6] * 40, [0.5] * 40, resamples=999, seed=1)
    assert not result.exact
    assert result.p_value == pytest.approx(1 / 1000)
    # A symmetric null sample: p is large, and the same seed gives the same p.
    first = [0.1 * (i % 10) for i in range(60)]
    second = [0.1 * ((i * 7 + 3) % 10) for i in range(60)]
    p1 = paired_sign_flip_test(first, second, resamples=500, seed=seed_from("run", "a", "b")).p_value
    p2 = paired_sign_flip_test(first, second, resamples=500, seed=seed_from("run", "a", "b")).p_value
    assert p1 == p2
    assert p1 > 0.2


def test_paired_tests_need_equal_lengths() -> None:
    with pytest.raises(ValueError):
        paired_sign_flip_test([1.0], [1.0, 0.0])


def test_bootstrap_two_point_distribution() -> None:
    # values [0, 1]: a resampled mean is 0 (prob 1/4), 0.5 (1/2) or 1 (1/4). With 1,000 resamples
    # ~250 are 0 and ~250 are 1, so the 2.5th percentile (position 24.975) is 0 and the 97.5th
    # (position 974.025) is 1.
    assert bootstrap_mean_ci([0.0, 1.0], resamples=1000, seed=7) == (0.0, 1.0)


def test_bootstrap_is_deterministic_and_sane() -> None:
    values = [((i * 37) % 11) / 10 for i in range(200)]
    mean = sum(values) / len(values)
    a = bootstrap_mean_ci(values, resamples=500, seed=seed_from("run_1", "model_a", "bootstrap"))
    b = bootstrap_mean_ci(values, resamples=500, seed=seed_from("run_1", "model_a", "bootstrap"))
    c = bootstrap_mean_ci(values, resamples=500, seed=seed_from("run_2", "model_a", "bootstrap"))
    assert a == b
    assert a != c
    low, high = a
    assert min(values) <= low < mean < high <= max(values)
    # Standard error of the mean here is about sd / sqrt(200) = 0.32 / 14.1 = 0.023, so a 95% CI is
    # about +-0.045 wide on each side; allow a generous band.
    assert 0.02 < mean - low < 0.08 and 0.02 < high - mean < 0.08


def test_bootstrap_constant_values_and_bad_input() -> None:
    assert bootstrap_mean_ci([0.7] * 5) == (0.7, 0.7)
    with pytest.raises(ValueError):
        bootstrap_mean_ci([])
    with pytest.raises(ValueError):
        bootstrap_mean_ci([0.0, 1.0], resamples=0)


def test_seed_from_is_stable() -> None:
    # sha256 based, unlike hash(): a fixed value across processes and Python versions.
    assert seed_from("a", "b") == seed_from("a", "b") != seed_from("ab")
    assert seed_from("run", "model") == int.from_bytes(
        __import__("hashlib").sha256(b"run\x1fmodel").digest()[:8], "big"
    )


def test_count_based_and_row_based_resampling_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    # Scores on a 6-level scale take the count-based (multinomial) path; forcing the row-by-row
    # path on the same data must give the same intervals and p-values up to Monte Carlo noise.
    from drgero.evaluation import stats

    values = [[0.0, 0.2, 0.4, 0.6, 0.8, 1.0][(i * 7) % 6 if i % 3 else 5] for i in range(400)]
    # A rotated copy with every 9th score bumped one level: mean difference -0.0215, p about 0.3.
    rotated = values[13:] + values[:13]
    other = [min(1.0, round(v + 0.2, 1)) if i % 9 == 0 else v for i, v in enumerate(rotated)]
    by_counts = bootstrap_mean_ci(values, resamples=2000, seed=3)
    flipped_counts = paired_sign_flip_test(values, other, resamples=2000, seed=3)
    monkeypatch.setattr(stats, "MAX_LEVELS_FOR_COUNTS", 0)
    by_rows = bootstrap_mean_ci(values, resamples=2000, seed=3)
    flipped_rows = paired_sign_flip_test(values, other, resamples=2000, seed=3)
    assert by_counts != by_rows  # really two different samplers
    assert by_counts[0] == pytest.approx(by_rows[0], abs=0.006)
    assert by_counts[1] == pytest.approx(by_rows[1], abs=0.006)
    assert 0.2 < flipped_counts.p_value < 0.45
    assert flipped_counts.p_value == pytest.approx(flipped_rows.p_value, abs=0.03)
