"""Uplift evaluation: Qini and uplift curves, their normalised areas (Qini coefficient, AUUC), uplift at top k.

Defined exactly as scikit-uplift 0.5 defines them (``sklift.metrics``: ``qini_curve``, ``uplift_curve``,
``qini_auc_score``, ``uplift_auc_score``, ``uplift_at_k``) so numbers are comparable with published ones;
the tests check equality with scikit-uplift when it is installed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import auc

from persona.errors import InputError


def _arrays(y_true: Any, uplift: Any, treatment: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y, u, t = np.asarray(y_true), np.asarray(uplift, dtype=float), np.asarray(treatment)
    if not (len(y) == len(u) == len(t)):
        raise InputError(f"y_true, uplift and treatment must have the same length, got {len(y)}, {len(u)}, {len(t)}")
    for name, a in (("y_true", y), ("treatment", t)):
        if not set(np.unique(a).tolist()) <= {0, 1}:
            raise InputError(f"{name} must be binary 0/1")
    return y, u, t


def _cumulative(y: np.ndarray, u: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, ...]:
    order = np.argsort(u, kind="mergesort")[::-1]
    y, u, t = y[order], u[order], t[order]
    y_t = np.where(t == 1, y, 0)
    y_c = np.where(t == 0, y, 0)
    thresholds = np.r_[np.where(np.diff(u))[0], u.size - 1]
    n_t = np.cumsum(t, dtype=np.float64)[thresholds]
    sum_t = np.cumsum(y_t, dtype=np.float64)[thresholds]
    n_all = thresholds + 1
    n_c = n_all - n_t
    sum_c = np.cumsum(y_c, dtype=np.float64)[thresholds]
    return n_all, n_t, n_c, sum_t, sum_c


def _start_at_zero(x: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if x.size == 0 or v[0] != 0 or x[0] != 0:
        return np.r_[0, x], np.r_[0, v]
    return x, v


def uplift_curve(y_true: Any, uplift: Any, treatment: Any) -> tuple[np.ndarray, np.ndarray]:
    """Uplift curve: (customers targeted, (treated response rate - control response rate) × customers)."""
    y, u, t = _arrays(y_true, uplift, treatment)
    n_all, n_t, n_c, s_t, s_c = _cumulative(y, u, t)
    v = (np.divide(s_t, n_t, out=np.zeros_like(s_t), where=n_t != 0)
         - np.divide(s_c, n_c, out=np.zeros_like(s_c), where=n_c != 0)) * n_all
    return _start_at_zero(n_all, v)


def qini_curve(y_true: Any, uplift: Any, treatment: Any) -> tuple[np.ndarray, np.ndarray]:
    """Qini curve: (customers targeted, treated responders - control responders × n_treated / n_control)."""
    y, u, t = _arrays(y_true, uplift, treatment)
    n_all, n_t, n_c, s_t, s_c = _cumulative(y, u, t)
    v = s_t - s_c * np.divide(n_t, n_c, out=np.zeros_like(n_t), where=n_c != 0)
    return _start_at_zero(n_all, v)


def perfect_qini_curve(y_true: Any, treatment: Any, negative_effect: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The best achievable Qini curve (scikit-uplift's definition)."""
    y, t = np.asarray(y_true), np.asarray(treatment)
    if negative_effect:
        return qini_curve(y, y * t - y * (1 - t), t)
    ratio = y[t == 1].sum() - len(y[t == 1]) * y[t == 0].sum() / len(y[t == 0])
    return np.array([0, ratio, len(y)]), np.array([0, ratio, ratio])


def perfect_uplift_curve(y_true: Any, treatment: Any) -> tuple[np.ndarray, np.ndarray]:
    """The best achievable uplift curve (scikit-uplift's definition)."""
    y, t = np.asarray(y_true), np.asarray(treatment)
    cr = np.sum((y == 1) & (t == 0))
    tn = np.sum((y == 0) & (t == 1))
    summand = y if cr > tn else t
    return uplift_curve(y, 2 * (y == t) + summand, t)


def _normalised_area(actual: tuple[np.ndarray, np.ndarray], perfect: tuple[np.ndarray, np.ndarray]) -> float:
    xb, yb = np.array([0, perfect[0][-1]]), np.array([0, perfect[1][-1]])
    base = auc(xb, yb)
    return float((auc(*actual) - base) / (auc(*perfect) - base))


def qini_auc_score(y_true: Any, uplift: Any, treatment: Any, negative_effect: bool = True) -> float:
    """Qini coefficient: area between the Qini curve and random targeting, over the same for the perfect curve."""
    _arrays(y_true, uplift, treatment)
    return _normalised_area(qini_curve(y_true, uplift, treatment), perfect_qini_curve(y_true, treatment, negative_effect))


def uplift_auc_score(y_true: Any, uplift: Any, treatment: Any) -> float:
    """AUUC: normalised area under the uplift curve (above random targeting, over the perfect curve's)."""
    _arrays(y_true, uplift, treatment)
    return _normalised_area(uplift_curve(y_true, uplift, treatment), perfect_uplift_curve(y_true, treatment))


def uplift_at_k(y_true: Any, uplift: Any, treatment: Any, strategy: str = "overall", k: float | int = 0.3) -> float:
    """Treated minus control response rate among the top ``k`` customers by predicted uplift.

    Args:
        strategy: "overall" (top k of everyone, then split by arm) or "by_group" (top k within each arm).
        k: a share in (0, 1) or a number of customers.
    """
    y, u, t = _arrays(y_true, uplift, treatment)
    if strategy not in ("overall", "by_group"):
        raise InputError(f"strategy must be 'overall' or 'by_group', got {strategy!r}")
    n = len(y)
    is_int = np.asarray(k).dtype.kind == "i"
    if (is_int and not 0 < k < n) or (not is_int and not 0 < k < 1):
        raise InputError(f"k={k} must be a share in (0, 1) or a count in (0, {n})")
    order = np.argsort(u, kind="mergesort")[::-1]
    yo, to = y[order], t[order]
    if strategy == "overall":
        size = k if is_int else int(n * k)
        yk, tk = yo[:size], to[:size]
        return float(yk[tk == 1].mean() - yk[tk == 0].mean())
    n_c = k if is_int else int((t == 0).sum() * k)
    n_t = k if is_int else int((t == 1).sum() * k)
    return float(yo[to == 1][:n_t].mean() - yo[to == 0][:n_c].mean())


def uplift_report(y_true: Any, uplift: Any, treatment: Any, ks: tuple[float, ...] = (0.1, 0.3)) -> dict[str, float]:
    """Qini coefficient, AUUC and uplift at each k in one dict."""
    out = {"qini": qini_auc_score(y_true, uplift, treatment), "auuc": uplift_auc_score(y_true, uplift, treatment)}
    for k in ks:
        out[f"uplift@{int(k * 100)}%"] = uplift_at_k(y_true, uplift, treatment, "overall", k)
    return out
