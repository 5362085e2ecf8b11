"""Small statistics helpers for the experiments: means with t-intervals, proportions,
t-tests and a seeded bootstrap.

Every interval is two-sided at ``confidence`` (0.95 by default)::

    mean_ci          mean ± t_{(1+c)/2, n-1} * s / sqrt(n)        (Student's t, s = sample std)
    proportion_ci    Wilson score interval for k successes in n trials (sane at 0 and n)
    welch_t_test     t = (mean_a - mean_b) / sqrt(s_a²/n_a + s_b²/n_b), Welch–Satterthwaite df
    paired_t_test    mean_ci and t-test of the per-pair differences a_i - b_i
    mcnemar_test     exact test that two paired yes/no outcomes (e.g. "failed") are equally likely
    holm             Holm's step-down adjustment of p-values for testing several arms at once
    bootstrap_ci     percentile interval of a statistic over resamples drawn from a seed

Only NumPy and scipy.stats.t / scipy.stats.norm are used.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from tinygrad_nn._random import as_generator

__all__ = [
    "PairedComparison",
    "Proportion",
    "Summary",
    "TestResult",
    "adjust",
    "bootstrap_ci",
    "compare_paired",
    "format_mean_ci",
    "format_proportion",
    "holm",
    "mcnemar_test",
    "mean_ci",
    "paired_t_test",
    "proportion_ci",
    "welch_t_test",
]


def _values(name: str, values: Sequence[float] | np.ndarray) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64).ravel()
    if array.size == 0:
        raise ValueError(f"{name}: needs at least one value, got none")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name}: values must be finite, got {array[~np.isfinite(array)][:3]}")
    return array


def _check_confidence(name: str, confidence: float) -> float:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"{name}: confidence must lie in (0, 1), got {confidence!r}")
    return float(confidence)


@dataclass(frozen=True)
class Summary:
    """Mean of ``n`` values with its two-sided Student-t confidence interval.

    ``std`` is the sample standard deviation (ddof=1); ``half_width`` is
    ``t * std / sqrt(n)``. With one value the interval is undefined (NaN bounds).
    """

    mean: float
    std: float
    n: int
    low: float
    high: float
    half_width: float
    confidence: float = 0.95

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def mean_ci(values: Sequence[float] | np.ndarray, confidence: float = 0.95) -> Summary:
    """Mean, sample std and the Student-t interval ``mean ± t * s / sqrt(n)``.

    Args:
        values: finite numbers (at least one).
        confidence: coverage of the two-sided interval.

    Example:
        >>> s = mean_ci([1.0, 2.0, 3.0, 4.0, 5.0])
        >>> round(s.mean, 3), round(s.half_width, 4)
        (3.0, 1.9632)
    """
    from scipy.stats import t

    confidence = _check_confidence("mean_ci", confidence)
    array = _values("mean_ci", values)
    n = int(array.size)
    mean = float(array.mean())
    if n < 2:
        return Summary(mean, math.nan, n, math.nan, math.nan, math.nan, confidence)
    std = float(array.std(ddof=1))
    half = float(t.ppf((1 + confidence) / 2, n - 1) * std / math.sqrt(n))
    return Summary(mean, std, n, mean - half, mean + half, half, confidence)


@dataclass(frozen=True)
class Proportion:
    """``successes`` out of ``n`` with its Wilson score interval."""

    successes: int
    n: int
    rate: float
    low: float
    high: float
    confidence: float = 0.95

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def proportion_ci(successes: int, n: int, confidence: float = 0.95) -> Proportion:
    """Rate ``k / n`` with the Wilson score interval.

    Unlike the normal approximation ``p ± z sqrt(p(1-p)/n)`` it does not collapse to a
    point at 0% or 100%, which matters for failure rates measured over a few dozen runs.

    Example:
        >>> p = proportion_ci(0, 10)
        >>> round(p.low, 4), round(p.high, 4)
        (0.0, 0.2775)
    """
    from scipy.stats import norm

    confidence = _check_confidence("proportion_ci", confidence)
    if isinstance(n, bool) or n < 1 or not 0 <= successes <= n:
        raise ValueError(f"proportion_ci: need 0 <= successes <= n and n >= 1, got {successes}/{n}")
    z = float(norm.ppf((1 + confidence) / 2))
    rate = successes / n
    denominator = 1 + z * z / n
    centre = (rate + z * z / (2 * n)) / denominator
    half = z * math.sqrt(rate * (1 - rate) / n + z * z / (4 * n * n)) / denominator
    # In exact arithmetic low <= rate <= high; rounding can put a bound a hair on the wrong
    # side of 0% or 100% (3.5e-18 for 0 of n), which would give a plot a negative error bar.
    low = min(rate, max(0.0, centre - half))
    high = max(rate, min(1.0, centre + half))
    return Proportion(int(successes), int(n), rate, low, high, confidence)


@dataclass(frozen=True)
class TestResult:
    """A two-sided t-test of ``difference`` (a - b) against 0, with the difference's CI."""

    difference: float
    statistic: float
    df: float
    p_value: float
    low: float
    high: float
    confidence: float = 0.95

    __test__ = False  # not a pytest test class despite the name

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _t_test(difference: float, standard_error: float, df: float, confidence: float) -> TestResult:
    from scipy.stats import t

    if standard_error == 0.0:
        statistic = 0.0 if difference == 0.0 else math.copysign(math.inf, difference)
        p_value = 1.0 if difference == 0.0 else 0.0
        return TestResult(difference, statistic, df, p_value, difference, difference, confidence)
    statistic = difference / standard_error
    p_value = float(2 * t.sf(abs(statistic), df))
    half = float(t.ppf((1 + confidence) / 2, df) * standard_error)
    return TestResult(
        difference, statistic, df, p_value, difference - half, difference + half, confidence
    )


def welch_t_test(
    a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, confidence: float = 0.95
) -> TestResult:
    """Welch's unequal-variance t-test of mean(a) - mean(b), two-sided.

    Equals ``scipy.stats.ttest_ind(a, b, equal_var=False)``; the CI is the
    Welch–Satterthwaite interval of the difference of means.
    """
    confidence = _check_confidence("welch_t_test", confidence)
    x, y = _values("welch_t_test", a), _values("welch_t_test", b)
    if x.size < 2 or y.size < 2:
        raise ValueError(
            f"welch_t_test: each sample needs at least 2 values, got {x.size} and {y.size}"
        )
    var_x, var_y = x.var(ddof=1) / x.size, y.var(ddof=1) / y.size
    standard_error = math.sqrt(var_x + var_y)
    if standard_error == 0.0:
        df = float(x.size + y.size - 2)
    else:
        df = (var_x + var_y) ** 2 / (var_x**2 / (x.size - 1) + var_y**2 / (y.size - 1))
    return _t_test(float(x.mean() - y.mean()), standard_error, float(df), confidence)


def paired_t_test(
    a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, confidence: float = 0.95
) -> TestResult:
    """t-test of the mean of the pairwise differences ``a[i] - b[i]``, two-sided.

    Right when run ``i`` of both arms shares its data and initial noise (common random
    numbers): the shared part cancels. Equals ``scipy.stats.ttest_rel(a, b)``.
    """
    confidence = _check_confidence("paired_t_test", confidence)
    x, y = _values("paired_t_test", a), _values("paired_t_test", b)
    if x.shape != y.shape or x.size < 2:
        raise ValueError(
            f"paired_t_test: needs two samples of equal size >= 2, got {x.size} and {y.size}"
        )
    differences = x - y
    standard_error = float(differences.std(ddof=1) / math.sqrt(differences.size))
    return _t_test(
        float(differences.mean()), standard_error, float(differences.size - 1), confidence
    )


def mcnemar_test(a: Sequence[bool], b: Sequence[bool]) -> tuple[int, int, float]:
    """Exact McNemar test for paired yes/no outcomes (run i of arm a vs run i of arm b).

    Only discordant pairs carry information: ``only_a`` runs where a is yes and b no,
    ``only_b`` the reverse. Under "no difference" each discordant pair is a fair coin, so
    the p-value is the two-sided binomial test of ``only_a`` out of ``only_a + only_b``.

    Returns:
        ``(only_a, only_b, p_value)``; the p-value is 1 when there is no discordant pair.

    Example:
        >>> mcnemar_test([True] * 10, [False] * 10)[2] < 0.01
        True
    """
    from scipy.stats import binomtest

    x, y = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(
            f"mcnemar_test: needs two flat samples of equal size, got {x.shape}, {y.shape}"
        )
    only_a, only_b = int(np.sum(x & ~y)), int(np.sum(~x & y))
    if only_a + only_b == 0:
        return only_a, only_b, 1.0
    return only_a, only_b, float(binomtest(only_a, only_a + only_b, 0.5).pvalue)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values: compare each to the level as if it were tested alone.

    Sorted ascending, the i-th smallest (0-based) of m is multiplied by ``m - i``, then made
    non-decreasing and capped at 1. Controls the chance of any false "significant" among
    the m tests, under any dependence between them (e.g. several penalty strengths, each
    compared with the same unpenalised runs).

    Example:
        >>> holm([0.01, 0.04, 0.03])
        [0.03, 0.06, 0.06]
    """
    values = [float(p) for p in p_values]
    if any(not 0.0 <= p <= 1.0 for p in values):
        raise ValueError(f"holm: p-values must lie in [0, 1], got {values}")
    order = sorted(range(len(values)), key=values.__getitem__)
    adjusted = [0.0] * len(values)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (len(values) - rank) * values[index]))
        adjusted[index] = running
    return adjusted


def bootstrap_ci(
    values: Sequence[float] | np.ndarray,
    statistic: Callable[[np.ndarray], float] = np.median,
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> tuple[float, float, float]:
    """Percentile bootstrap interval of ``statistic`` (the median by default).

    Returns:
        ``(estimate, low, high)``: the statistic of the data and the interval's bounds,
        reproducible for a given ``seed``.
    """
    confidence = _check_confidence("bootstrap_ci", confidence)
    array = _values("bootstrap_ci", values)
    rows = as_generator(seed, "bootstrap_ci").integers(0, array.size, size=(resamples, array.size))
    estimates = np.array([statistic(array[row]) for row in rows])
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(estimates, [tail, 100 - tail])
    return float(statistic(array)), float(low), float(high)


def _number(value: float, digits: int) -> str:
    if not math.isfinite(value):
        return "n/a"
    return f"{value:.{digits}g}"


def format_mean_ci(summary: Summary, digits: int = 3) -> str:
    """``"0.123 ± 0.004"``; just the mean when the interval is undefined (one run)."""
    if not math.isfinite(summary.half_width):
        return _number(summary.mean, digits)
    return f"{_number(summary.mean, digits)} ± {_number(summary.half_width, 2)}"


def format_proportion(proportion: Proportion) -> str:
    """``"41% [29%, 54%]"`` (rate and Wilson interval)."""
    return (
        f"{proportion.rate:.0%} [{proportion.low:.0%}, {proportion.high:.0%}]"
        if proportion.n
        else "n/a"
    )


# Compared values are capped here before taking logs: a diverged run (inf) counts as this.
LOG_CAP = 1e6
LOG_FLOOR = 1e-300


@dataclass(frozen=True)
class PairedComparison:
    """Arm a against arm b on the same runs: effect, its interval and the p-value.

    ``kind`` "ratio": ``effect`` is the ratio of geometric means a / b, exp of the mean
    paired log difference, with the exponentiated Student-t interval, p from the paired
    t-test of the logs. ``kind`` "difference": for yes/no outcomes, ``effect`` is rate(a) -
    rate(b) with the paired t interval of the indicator differences and the exact McNemar
    p-value. ``d_z`` is the standardised mean paired difference (mean / std of the
    differences); ``p_holm`` is filled in by `adjust`.
    """

    kind: str
    n: int
    mean_a: float
    mean_b: float
    effect: float
    low: float
    high: float
    p_value: float
    d_z: float
    confidence: float = 0.95
    p_holm: float = math.nan

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def compare_paired(
    a: Sequence[float] | np.ndarray,
    b: Sequence[float] | np.ndarray,
    kind: str = "ratio",
    confidence: float = 0.95,
) -> PairedComparison:
    """Paired comparison of two arms' values on the same runs (see `PairedComparison`).

    Args:
        a, b: one value per run, run i of a paired with run i of b. For "ratio", positive
            numbers (non-finite or above `LOG_CAP` count as `LOG_CAP`); for "difference",
            booleans.
        kind: "ratio" (positive, skewed quantities such as errors) or "difference" (rates).
        confidence: coverage of the interval.

    Example:
        >>> c = compare_paired([1.0, 2.0, 4.0], [2.0, 4.0, 8.0])
        >>> round(c.effect, 6), c.p_value
        (0.5, 0.0)
    """
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1 or x.size < 2:
        raise ValueError(
            f"compare_paired: needs two flat samples of equal size >= 2, got {x.shape}, {y.shape}"
        )
    if kind == "ratio":
        lx = np.log(np.clip(np.nan_to_num(x, nan=LOG_CAP, posinf=LOG_CAP), LOG_FLOOR, LOG_CAP))
        ly = np.log(np.clip(np.nan_to_num(y, nan=LOG_CAP, posinf=LOG_CAP), LOG_FLOOR, LOG_CAP))
        test = paired_t_test(lx, ly, confidence)
        spread = float(np.std(lx - ly, ddof=1))
        return PairedComparison(
            kind,
            int(x.size),
            float(np.exp(lx.mean())),
            float(np.exp(ly.mean())),
            float(np.exp(test.difference)),
            float(np.exp(test.low)),
            float(np.exp(test.high)),
            test.p_value,
            test.difference / spread if spread > 0 else 0.0,
            confidence,
        )
    if kind == "difference":
        test = paired_t_test(x, y, confidence)
        spread = float(np.std(x - y, ddof=1))
        p_value = mcnemar_test(x.astype(bool), y.astype(bool))[2]
        return PairedComparison(
            kind,
            int(x.size),
            float(x.mean()),
            float(y.mean()),
            test.difference,
            test.low,
            test.high,
            p_value,
            test.difference / spread if spread > 0 else 0.0,
            confidence,
        )
    raise ValueError(f"compare_paired: kind must be 'ratio' or 'difference', got {kind!r}")


def adjust(comparisons: Sequence[PairedComparison]) -> list[PairedComparison]:
    """The comparisons with ``p_holm`` set: Holm's adjustment over all of them together."""
    from dataclasses import replace

    adjusted = holm([c.p_value for c in comparisons])
    return [replace(c, p_holm=p) for c, p in zip(comparisons, adjusted, strict=True)]
