"""Power and sample size for two-arm tests of proportions and of means (normal approximation)."""

from __future__ import annotations

import math

import numpy as np
from scipy import optimize, stats

from persona.errors import InputError


def _check(alpha: float, power: float, ratio: float) -> None:
    if not 0 < alpha < 1:
        raise InputError(f"alpha must be in (0, 1), got {alpha}")
    if not 0 < power < 1:
        raise InputError(f"power must be in (0, 1), got {power}")
    if not ratio > 0:
        raise InputError(f"ratio (treatment/control size) must be positive, got {ratio}")


def sample_size_proportions(baseline: float, mde: float, *, alpha: float = 0.05, power: float = 0.8,
                            ratio: float = 1.0, relative: bool = False, two_sided: bool = True) -> int:
    """Customers needed in the control arm to detect a change of ``mde`` in a conversion rate.

    Uses the classic formula with the pooled variance under H0 and unpooled under H1
    (Fleiss; what most online calculators use). The treatment arm needs ``ratio`` times as many.

    Args:
        baseline: control conversion rate, in (0, 1).
        mde: minimum detectable effect: absolute difference (0.01 = 1 pp) or relative if ``relative``.
        alpha: significance level.
        power: probability of detecting an effect of size ``mde``.
        ratio: treatment size / control size.
        relative: read ``mde`` as a relative lift (0.1 = +10 %).
        two_sided: two-sided test (default).

    Returns:
        The control-arm sample size (rounded up).

    Raises:
        InputError: rates outside (0, 1) or a zero effect.
    """
    _check(alpha, power, ratio)
    if not 0 < baseline < 1:
        raise InputError(f"baseline rate must be in (0, 1), got {baseline}", hint="e.g. --baseline 0.05 for 5 %")
    d = baseline * mde if relative else mde
    p2 = baseline + d
    if d == 0 or not 0 < p2 < 1:
        raise InputError(f"baseline {baseline} + effect {d:+g} must be a rate in (0, 1) different from the baseline",
                         hint="mde is absolute (0.01 = 1 pp) unless relative=True / --relative")
    za = stats.norm.ppf(1 - alpha / (2 if two_sided else 1))
    zb = stats.norm.ppf(power)
    pbar = (baseline + ratio * p2) / (1 + ratio)
    num = za * math.sqrt(pbar * (1 - pbar) * (1 + 1 / ratio)) + zb * math.sqrt(baseline * (1 - baseline) + p2 * (1 - p2) / ratio)
    return int(math.ceil(num * num / (d * d)))


def sample_size_means(sd: float, mde: float, *, alpha: float = 0.05, power: float = 0.8, ratio: float = 1.0,
                      two_sided: bool = True, sd_treatment: float | None = None) -> int:
    """Customers needed in the control arm to detect a difference ``mde`` in a mean (e.g. revenue per customer).

    Args:
        sd: standard deviation of the metric in the control arm.
        mde: the absolute difference in means to detect.
        alpha, power, ratio, two_sided: as for :func:`sample_size_proportions`.
        sd_treatment: treatment-arm SD when it differs (default: ``sd``).
    """
    _check(alpha, power, ratio)
    if not sd > 0 or mde == 0:
        raise InputError(f"need sd > 0 and mde != 0, got sd={sd}, mde={mde}")
    s2 = sd_treatment if sd_treatment is not None else sd
    za = stats.norm.ppf(1 - alpha / (2 if two_sided else 1))
    zb = stats.norm.ppf(power)
    return int(math.ceil((za + zb) ** 2 * (sd * sd + s2 * s2 / ratio) / (mde * mde)))


def power_proportions(baseline: float, mde: float, n_control: int, *, alpha: float = 0.05, ratio: float = 1.0,
                      relative: bool = False) -> float:
    """Power of the two-sided two-proportion test with ``n_control`` (and ``ratio``× treatment) customers."""
    _check(alpha, 0.5, ratio)
    d = baseline * mde if relative else mde
    p2 = baseline + d
    if not (0 < baseline < 1 and 0 < p2 < 1) or n_control < 1:
        raise InputError(f"need rates in (0, 1) and n >= 1, got baseline={baseline}, effect={d}, n={n_control}")
    n2 = n_control * ratio
    za = stats.norm.ppf(1 - alpha / 2)
    pbar = (baseline * n_control + p2 * n2) / (n_control + n2)
    se0 = math.sqrt(pbar * (1 - pbar) * (1 / n_control + 1 / n2))
    se1 = math.sqrt(baseline * (1 - baseline) / n_control + p2 * (1 - p2) / n2)
    return float(stats.norm.cdf((abs(d) - za * se0) / se1) + stats.norm.cdf((-abs(d) - za * se0) / se1))


def mde_proportions(baseline: float, n_control: int, *, alpha: float = 0.05, power: float = 0.8,
                    ratio: float = 1.0) -> float:
    """Smallest absolute increase in the rate detectable with the given power and sample size."""
    _check(alpha, power, ratio)
    if not 0 < baseline < 1 or n_control < 2:
        raise InputError(f"need a baseline in (0, 1) and n >= 2, got {baseline}, {n_control}")
    hi = 1 - baseline - 1e-9
    if power_proportions(baseline, hi, n_control, alpha=alpha, ratio=ratio) < power:
        return float("nan")
    return float(optimize.brentq(
        lambda d: power_proportions(baseline, d, n_control, alpha=alpha, ratio=ratio) - power, 1e-9, hi, xtol=1e-10))


def power_table(baseline: float, *, mdes: list[float] | None = None, alpha: float = 0.05, power: float = 0.8,
                ratio: float = 1.0, relative: bool = True) -> list[dict[str, float]]:
    """Sample size per arm for a range of effects: what a shop of a given size can hope to detect."""
    if not 0 < baseline < 1:
        raise InputError(f"baseline {baseline} must be a rate in (0, 1)", hint="e.g. --baseline 0.05 for a 5% conversion rate")
    mdes = mdes or [0.05, 0.10, 0.20, 0.30, 0.50]
    rows = []
    for m in mdes:
        d = baseline * m if relative else m
        if not 0 < baseline + d < 1:
            continue
        n = sample_size_proportions(baseline, d, alpha=alpha, power=power, ratio=ratio)
        rows.append({"baseline": baseline, "mde_abs": d, "mde_rel": d / baseline, "n_control": n,
                     "n_treatment": int(np.ceil(n * ratio)), "n_total": n + int(np.ceil(n * ratio))})
    return rows
