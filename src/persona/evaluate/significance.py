"""Paired comparison of two recommenders on the same held-out users: is a difference more than noise?

Two models scored on one split differ by a few thousandths of nDCG@10 as often as not by chance: which users
landed in the test set moves both. Comparing them user by user (each user's metric under model A minus
under model B) removes what the users have in common, and the spread of those differences says how large a
gap the split can tell from zero: the mean difference, its standard error, a confidence interval and the
paired t-test's two-sided p-value.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import stats

from persona.errors import InputError


@dataclass(frozen=True)
class PairedDifference:
    """Model A minus model B on one metric, over the users both were scored on."""

    users: int
    mean_a: float
    mean_b: float
    diff: float
    se: float
    low: float
    high: float
    p: float

    @property
    def significant(self) -> bool:
        """The confidence interval excludes zero."""
        return bool(self.low > 0 or self.high < 0)

    def to_dict(self, digits: int = 6) -> dict[str, float | int | bool]:
        """Rounded fields plus ``significant``, for JSON."""
        out: dict[str, float | int | bool] = {k: (round(v, digits) if isinstance(v, float) else v)
                                              for k, v in asdict(self).items()}
        out["significant"] = self.significant
        return out


def paired_difference(a: pd.Series, b: pd.Series, *, confidence: float = 0.95) -> PairedDifference:
    """Mean of ``a − b`` over the users (index) both hold, with the paired t-test's interval and p-value.

    Args:
        a: one value per user (e.g. a column of :func:`~persona.evaluate.per_user_ranking_metrics`).
        b: the other model's values, indexed by the same users.
        confidence: level of the interval ``[low, high]``.

    Raises:
        InputError: fewer than two common users, or a confidence outside (0, 1).
    """
    if not 0.0 < confidence < 1.0:
        raise InputError(f"confidence must lie in (0, 1), got {confidence!r}")
    common = a.index.intersection(b.index)
    if len(common) < 2:
        raise InputError(f"a paired comparison needs at least 2 users scored by both models, got {len(common)}",
                         hint="score both models on the same test split")
    x = a.loc[common].to_numpy(dtype=np.float64)
    y = b.loc[common].to_numpy(dtype=np.float64)
    d = x - y
    n = len(d)
    se = float(d.std(ddof=1) / np.sqrt(n))
    diff = float(d.mean())
    if se > 0:
        half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * se
        p = float(2 * stats.t.sf(abs(diff) / se, n - 1))
    else:  # identical on every user (or a constant shift): no noise to speak of
        half, p = 0.0, (1.0 if diff == 0 else 0.0)
    return PairedDifference(users=n, mean_a=float(x.mean()), mean_b=float(y.mean()), diff=diff, se=se,
                            low=diff - half, high=diff + half, p=p)


def versus(per_user: Mapping[str, pd.DataFrame], reference: str, metrics: Iterable[str],
           *, confidence: float = 0.95) -> dict[str, dict[str, PairedDifference]]:
    """``reference`` against every other model: ``{model: {metric: reference − model}}``.

    Args:
        per_user: model name → its per-user metrics (rows: users, columns: metrics).
        reference: the model every other is compared with (e.g. the best one).
        metrics: columns to compare.

    Raises:
        InputError: ``reference`` or a metric is missing.
    """
    if reference not in per_user:
        raise InputError(f"no per-user metrics for {reference!r}; have {sorted(per_user)}")
    ref = per_user[reference]
    names = list(metrics)
    missing = [m for m in names if m not in ref.columns]
    if missing:
        raise InputError(f"metric(s) {missing} not among {list(ref.columns)}")
    return {name: {m: paired_difference(ref[m], rows[m], confidence=confidence) for m in names}
            for name, rows in per_user.items() if name != reference}
