"""Vectorised test statistics and confidence intervals used by the experiment analysis.

Every function accepts scalars or NumPy arrays (one entry per comparison or per simulated
experiment), so thousands of experiments are analysed in one call.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats


def _z(alpha: float) -> float:
    return float(stats.norm.ppf(1.0 - alpha / 2.0))


def wilson_interval(successes: np.ndarray | float, n: np.ndarray | float, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for a proportion."""
    x, n = np.asarray(successes, dtype=float), np.asarray(n, dtype=float)
    z = _z(alpha)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = x / n
        denom = 1.0 + z * z / n
        centre = (p + z * z / (2 * n)) / denom
        half = z / denom * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    # exact at the edges: no successes → 0, all → 1 (the difference of the two terms leaves ±1e-19 otherwise)
    return np.where(x == 0, 0.0, centre - half)[()], np.where(x == n, 1.0, centre + half)[()]


def newcombe_interval(x1: np.ndarray | float, n1: np.ndarray | float, x2: np.ndarray | float, n2: np.ndarray | float,
                      alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Newcombe's hybrid score interval for ``p1 - p2`` (method 10 of Newcombe 1998)."""
    x1, n1, x2, n2 = (np.asarray(v, dtype=float) for v in (x1, n1, x2, n2))
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = wilson_interval(x1, n1, alpha)
    l2, u2 = wilson_interval(x2, n2, alpha)
    d = p1 - p2
    return d - np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + np.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)


def wald_interval(x1: np.ndarray | float, n1: np.ndarray | float, x2: np.ndarray | float, n2: np.ndarray | float,
                  alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Wald (unpooled normal) interval for ``p1 - p2``."""
    x1, n1, x2, n2 = (np.asarray(v, dtype=float) for v in (x1, n1, x2, n2))
    p1, p2 = x1 / n1, x2 / n2
    se = np.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
    z = _z(alpha)
    return p1 - p2 - z * se, p1 - p2 + z * se


@dataclass(frozen=True)
class TestResult:
    """A test statistic, its two-sided p-value and the interval for the difference."""

    estimate: np.ndarray
    statistic: np.ndarray
    p_value: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    df: np.ndarray | None = None


def two_proportion_ztest(x1: np.ndarray | float, n1: np.ndarray | float, x2: np.ndarray | float,
                         n2: np.ndarray | float, alpha: float = 0.05, ci: str = "newcombe") -> TestResult:
    """Pooled two-proportion z-test of ``p1 - p2 = 0`` with a Newcombe (or Wald) interval.

    Args:
        x1, n1: successes and size of the variant.
        x2, n2: successes and size of the control.
        alpha: 1 - confidence level.
        ci: "newcombe" (default; good coverage at small rates) or "wald".
    """
    x1, n1, x2, n2 = (np.asarray(v, dtype=float) for v in (x1, n1, x2, n2))
    p1, p2 = x1 / n1, x2 / n2
    pooled = (x1 + x2) / (n1 + n2)
    with np.errstate(invalid="ignore", divide="ignore"):
        se = np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
        z = np.where(se > 0, (p1 - p2) / np.where(se > 0, se, 1.0), 0.0)
    p = 2 * stats.norm.sf(np.abs(z))
    lo, hi = (newcombe_interval if ci == "newcombe" else wald_interval)(x1, n1, x2, n2, alpha)
    return TestResult(estimate=p1 - p2, statistic=z, p_value=p, ci_low=lo, ci_high=hi)


def welch_ttest(mean1: np.ndarray | float, var1: np.ndarray | float, n1: np.ndarray | float,
                mean2: np.ndarray | float, var2: np.ndarray | float, n2: np.ndarray | float,
                alpha: float = 0.05) -> TestResult:
    """Welch's unequal-variance t-test of ``mean1 - mean2 = 0`` from summary statistics (var with ddof=1)."""
    m1, v1, n1, m2, v2, n2 = (np.asarray(v, dtype=float) for v in (mean1, var1, n1, mean2, var2, n2))
    a, b = v1 / n1, v2 / n2
    se = np.sqrt(a + b)
    with np.errstate(invalid="ignore", divide="ignore"):
        df = (a + b) ** 2 / (a * a / (n1 - 1) + b * b / (n2 - 1))
        t = np.where(se > 0, (m1 - m2) / np.where(se > 0, se, 1.0), 0.0)
    df = np.where(np.isfinite(df), df, np.maximum(n1 + n2 - 2, 1))
    p = 2 * stats.t.sf(np.abs(t), df)
    q = stats.t.ppf(1 - alpha / 2, df)
    return TestResult(estimate=m1 - m2, statistic=t, p_value=p, ci_low=m1 - m2 - q * se, ci_high=m1 - m2 + q * se, df=df)


def bootstrap_mean_diff(x1: np.ndarray, x2: np.ndarray, *, alpha: float = 0.05, n_boot: int = 2000, seed: int = 0,
                        chunk: int = 200) -> tuple[float, float]:
    """Percentile bootstrap interval for ``mean(x1) - mean(x2)``; seeded, resampled in vectorised chunks.

    Args:
        x1, x2: per-customer values of the variant and the control (e.g. revenue, mostly zeros).
        alpha: 1 - confidence level.
        n_boot: bootstrap replicates.
        seed: random seed (same seed, same interval).
        chunk: replicates drawn per vectorised batch (bounds memory to chunk × len(x)).
    """
    rng = np.random.default_rng(seed)
    x1, x2 = np.asarray(x1, dtype=float), np.asarray(x2, dtype=float)
    diffs = np.empty(n_boot)
    for start in range(0, n_boot, chunk):
        k = min(chunk, n_boot - start)
        m1 = x1[rng.integers(0, x1.size, size=(k, x1.size))].mean(axis=1)
        m2 = x2[rng.integers(0, x2.size, size=(k, x2.size))].mean(axis=1)
        diffs[start:start + k] = m1 - m2
    lo, hi = np.quantile(diffs, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)
