"""Statistics for rankings, in plain Python (numpy is not a dependency of the Lambda layer).

- ``wilson_interval``: 95% CI of a pass rate (good coverage at small n and at 0% / 100%,
  where the normal "Wald" interval collapses to a point).
- ``bootstrap_mean_ci``: percentile bootstrap CI of a mean of graded scores (no normality
  assumption; scores in 0..1 are bounded and often lumpy).
- ``mcnemar_exact``: paired test of two pass/fail models on the same rows (exact binomial on
  the discordant rows).
- ``paired_sign_flip_test``: paired permutation test of two graded models on the same rows;
  it tests the mean difference, the very statistic the ranking orders by.
- ``percentile``: linear interpolation between order statistics (numpy's default "linear",
  Hyndman & Fan type 7), used for latency p50/p95 and bootstrap quantiles.

Randomized procedures take a seed (``seed_from`` hashes any strings, e.g. the run id and the
model id) and draw from their own ``random.Random``: the same inputs give the same numbers.
Formulas and the reasons for each choice are in docs/evaluation.md.
"""

from __future__ import annotations

import hashlib
import math
import random
import sys
from array import array
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from itertools import compress, product
from statistics import NormalDist
from typing import Literal

# A 4-byte unsigned array type for drawing bootstrap indices from random bytes in bulk.
_U32 = next(code for code in ("I", "L") if array(code).itemsize == 4)
# Maps each random byte to its lowest bit: b"\x00"/b"\x01" selectors for itertools.compress.
_LOW_BIT = bytes(b & 1 for b in range(256))
# Above this many non-zero paired differences the sign-flip test samples instead of enumerating.
EXACT_SIGN_FLIP_MAX = 12
# Up to this many distinct values, resampling draws counts per value instead of row by row.
MAX_LEVELS_FOR_COUNTS = 64


def seed_from(*parts: str) -> int:
    """A stable 64-bit seed from strings (Python's hash() is salted per process; this is not)."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def z_value(confidence: float) -> float:
    """Two-sided standard normal quantile: 1.959964 for 0.95."""
    if not 0.0 < confidence < 1.0:
        raise ValueError("confidence must be between 0 and 1")
    return NormalDist().inv_cdf(0.5 + confidence / 2.0)


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for ``successes`` out of ``n``.

    center = (p + z^2/2n) / (1 + z^2/n)
    half   = z * sqrt(p(1-p)/n + z^2/4n^2) / (1 + z^2/n)
    """
    if n <= 0:
        raise ValueError("n must be positive")
    if not 0 <= successes <= n:
        raise ValueError("successes must be between 0 and n")
    z = z_value(confidence)
    p = successes / n
    z2 = z * z
    denominator = 1.0 + z2 / n
    center = (p + z2 / (2 * n)) / denominator
    half = z * math.sqrt(p * (1.0 - p) / n + z2 / (4 * n * n)) / denominator
    # The exact bounds at 0/n and n/n are 0 and 1; clamp float noise.
    low = 0.0 if successes == 0 else max(0.0, center - half)
    high = 1.0 if successes == n else min(1.0, center + half)
    return low, high


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), linear interpolation between closest ranks:
    h = (n - 1) * q / 100; result = x[floor(h)] + (h - floor(h)) * (x[floor(h) + 1] - x[floor(h)])
    over the sorted values."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0.0 <= q <= 100.0:
        raise ValueError("q must be between 0 and 100")
    ordered = sorted(values)
    return _sorted_percentile(ordered, q)


def _sorted_percentile(ordered: Sequence[float], q: float) -> float:
    h = (len(ordered) - 1) * q / 100.0
    low = math.floor(h)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (h - low) * (ordered[high] - ordered[low])


def bootstrap_mean_ci(
    values: Sequence[float], *, resamples: int = 1000, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean: resample n values with replacement ``resamples``
    times, take the (1-confidence)/2 and (1+confidence)/2 percentiles of the resampled means."""
    n = len(values)
    if n == 0:
        raise ValueError("bootstrap of no values")
    if resamples < 1:
        raise ValueError("resamples must be positive")
    z_value(confidence)  # validates confidence
    if min(values) == max(values):
        return float(values[0]), float(values[0])
    rng = random.Random(seed)
    levels = Counter(values)
    if len(levels) <= MAX_LEVELS_FOR_COUNTS:
        means = _bootstrap_means_by_counts(levels, n, resamples, rng)
    else:
        means = _bootstrap_means_by_index(list(values), resamples, rng)
    means.sort()
    tail = (1.0 - confidence) / 2.0 * 100.0
    return _sorted_percentile(means, tail), _sorted_percentile(means, 100.0 - tail)


def _bootstrap_means_by_index(data: list[float], resamples: int, rng: random.Random) -> list[float]:
    """Resample row by row: n uniform indices per resample."""
    n = len(data)
    means: list[float] = []
    for _ in range(resamples):
        # n uniform indices from 4n random bytes. x % n has a bias below n / 2**32 per index
        # (under 0.03% even at a million rows): negligible next to the bootstrap's own error.
        indices = array(_U32, rng.randbytes(4 * n))
        if sys.byteorder == "big":
            indices.byteswap()  # same draws on every platform
        means.append(sum([data[i % n] for i in indices]) / n)
    return means


def _bootstrap_means_by_counts(levels: Counter[float], n: int, resamples: int, rng: random.Random) -> list[float]:
    """The same bootstrap when scores take few distinct values (pass/fail, judge scales): a
    resample is fully described by how many times each value is drawn, which is multinomial(n,
    count/n). Drawn as a chain of binomials - value j gets Binomial(rows left, c_j / rows of the
    values not yet drawn) - so a resample costs one draw per distinct value instead of n."""
    ordered = sorted(levels.items())
    means: list[float] = []
    for _ in range(resamples):
        remaining_draws = n
        remaining_rows = n
        total = 0.0
        for value, count in ordered[:-1]:
            drawn = rng.binomialvariate(remaining_draws, count / remaining_rows) if remaining_draws else 0
            total += value * drawn
            remaining_draws -= drawn
            remaining_rows -= count
        total += ordered[-1][0] * remaining_draws
        means.append(total / n)
    return means


def mcnemar_exact(only_first: int, only_second: int) -> float:
    """Two-sided exact McNemar p-value.

    b = rows only the first model passed, c = rows only the second passed. Under H0 (same pass
    rate) each discordant row is a fair coin: p = min(1, 2 * sum_{i=0..min(b,c)} C(b+c, i) / 2^(b+c)).
    Rows both passed or both failed carry no information about the difference.
    """
    if only_first < 0 or only_second < 0:
        raise ValueError("counts must be non-negative")
    m = only_first + only_second
    if m == 0:
        return 1.0
    k = min(only_first, only_second)
    tail = Fraction(sum(math.comb(m, i) for i in range(k + 1)), 2**m)
    return float(min(Fraction(1), 2 * tail))


@dataclass(frozen=True)
class PairedTest:
    method: Literal["mcnemar_exact", "paired_sign_flip"]
    n_pairs: int
    mean_difference: float  # first minus second, over the pairs
    p_value: float
    exact: bool  # enumerated exactly (True) or Monte Carlo (False)
    resamples: int | None = None


def paired_pass_fail_test(first: Sequence[float], second: Sequence[float]) -> PairedTest:
    """McNemar exact test on paired 0/1 outcomes."""
    _check_pairs(first, second)
    only_first = sum(1 for a, b in zip(first, second, strict=True) if a >= 0.5 > b)
    only_second = sum(1 for a, b in zip(first, second, strict=True) if b >= 0.5 > a)
    n = len(first)
    difference = (only_first - only_second) / n if n else 0.0
    return PairedTest("mcnemar_exact", n, difference, mcnemar_exact(only_first, only_second), exact=True)


def paired_sign_flip_test(
    first: Sequence[float], second: Sequence[float], *, resamples: int = 2000, seed: int = 0
) -> PairedTest:
    """Two-sided paired permutation (sign-flip) test of the mean difference.

    Under H0 (the two models are exchangeable on each row) every difference d_i = a_i - b_i is as
    likely to have the opposite sign. Statistic T = |sum d_i|. Exact over all 2^m sign patterns of
    the m non-zero differences when m <= EXACT_SIGN_FLIP_MAX; otherwise Monte Carlo with
    p = (1 + #{|T*| >= |T|}) / (1 + resamples), which never reports p = 0.
    """
    _check_pairs(first, second)
    n = len(first)
    diffs = [a - b for a, b in zip(first, second, strict=True)]
    nonzero = [d for d in diffs if d != 0.0]
    mean_difference = sum(diffs) / n if n else 0.0
    if not nonzero:
        return PairedTest("paired_sign_flip", n, mean_difference, 1.0, exact=True)
    total = sum(nonzero)
    observed = abs(total)
    # Float sums of the same numbers in another order can differ in the last bits; a relative
    # slack keeps "as extreme as observed" from missing exact ties.
    threshold = observed - 1e-9 * max(1.0, sum(abs(d) for d in nonzero))
    m = len(nonzero)
    if m <= EXACT_SIGN_FLIP_MAX:
        extreme = sum(
            1
            for signs in product((1.0, -1.0), repeat=m)
            if abs(sum(s * d for s, d in zip(signs, nonzero, strict=True))) >= threshold
        )
        return PairedTest("paired_sign_flip", n, mean_difference, extreme / 2**m, exact=True)
    if resamples < 1:
        raise ValueError("resamples must be positive")
    rng = random.Random(seed)
    extreme = 0
    levels = Counter(nonzero)
    grouped = sorted(levels.items()) if len(levels) <= MAX_LEVELS_FOR_COUNTS else None
    for _ in range(resamples):
        # The differences that keep their sign sum to `kept`, the others flip: T* = 2*kept - total.
        if grouped is not None:
            # Few distinct differences: how many of the c copies of d keep their sign is
            # Binomial(c, 1/2) - the same distribution as flipping each copy, one draw per value.
            kept = sum(d * rng.binomialvariate(c, 0.5) for d, c in grouped)
        else:
            # Rows whose selector byte is 1 keep their sign.
            kept = sum(compress(nonzero, rng.randbytes(m).translate(_LOW_BIT)))
        if abs(2.0 * kept - total) >= threshold:
            extreme += 1
    p_value = (1 + extreme) / (1 + resamples)
    return PairedTest("paired_sign_flip", n, mean_difference, p_value, exact=False, resamples=resamples)


def _check_pairs(first: Sequence[float], second: Sequence[float]) -> None:
    if len(first) != len(second):
        raise ValueError("paired samples must have the same length")
