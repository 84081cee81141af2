"""Targeting policy: contact the persuadable customers (highest predicted uplift), and measure on
randomised data what that buys compared with contacting everyone or the most likely buyers.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from persona.errors import InputError


def select_persuadable(uplift: Any, *, share: float | None = None, threshold: float = 0.0) -> np.ndarray:
    """Boolean mask of the customers to contact.

    Args:
        uplift: predicted uplift per customer.
        share: contact this share of customers with the highest uplift (e.g. a budget); else use ``threshold``.
        threshold: contact customers whose predicted uplift exceeds it (e.g. cost of contact / value of a conversion).
    """
    u = np.asarray(uplift, dtype=float)
    if share is not None:
        if not 0 < share <= 1:
            raise InputError(f"share must be in (0, 1], got {share}")
        k = int(round(share * len(u)))
        mask = np.zeros(len(u), dtype=bool)
        mask[np.argsort(-u, kind="mergesort")[:k]] = True
        return mask
    return u > threshold


def _incremental(mask: np.ndarray, y: np.ndarray, t: np.ndarray) -> tuple[float, float]:
    """Estimated extra outcomes if the masked customers are contacted: n × (treated mean - control mean)."""
    m1, m0 = mask & (t == 1), mask & (t == 0)
    if not m1.any() or not m0.any():
        return float("nan"), float("nan")
    diff = y[m1].mean() - y[m0].mean()
    se = np.sqrt(y[m1].var(ddof=1) / m1.sum() + y[m0].var(ddof=1) / m0.sum()) if m1.sum() > 1 and m0.sum() > 1 else np.nan
    return float(mask.sum() * diff), float(mask.sum() * se)


def compare_policies(uplift: Any, y: Any, treatment: Any, *, propensity: Any = None, revenue: Any = None,
                     share: float | None = 0.3, threshold: float = 0.0, cost_per_contact: float = 0.0) -> pd.DataFrame:
    """Expected incremental conversions (and revenue) of targeting by uplift vs everyone vs by propensity.

    Estimates come from randomised evaluation data: among the customers a policy would contact, the
    difference between treated and control outcomes times the number contacted (with its standard error).

    Args:
        uplift: predicted uplift per customer (evaluation set).
        y: observed binary outcome.
        treatment: observed 0/1 treatment (randomised).
        propensity: predicted response probability (a response model), to compare with "target likely buyers".
        revenue: observed revenue per customer, for incremental revenue.
        share: contact budget as a share of customers (None: contact everyone with uplift > threshold).
        threshold: uplift threshold used when ``share`` is None.
        cost_per_contact: cost of one contact, subtracted from incremental revenue.

    Returns:
        One row per policy: policy, contacted, share, incremental_conversions (± se), incremental_revenue,
        net_revenue, conversions_per_1000_contacts.
    """
    u = np.asarray(uplift, dtype=float)
    y = np.asarray(y, dtype=float)
    t = np.asarray(treatment).astype(int)
    if not (len(u) == len(y) == len(t)):
        raise InputError("uplift, y and treatment must have the same length")
    policies = {"uplift (persuadables)": select_persuadable(u, share=share, threshold=threshold),
                "everyone": np.ones(len(u), dtype=bool)}
    if propensity is not None:
        p = np.asarray(propensity, dtype=float)
        k = int(policies["uplift (persuadables)"].sum())
        mask = np.zeros(len(u), dtype=bool)
        mask[np.argsort(-p, kind="mergesort")[:k]] = True
        policies["propensity (likely buyers)"] = mask
    rows = []
    rev = None if revenue is None else np.asarray(revenue, dtype=float)
    for name, mask in policies.items():
        inc, se = _incremental(mask, y, t)
        row: dict[str, Any] = {"policy": name, "contacted": int(mask.sum()), "share": float(mask.mean()),
                               "incremental_conversions": inc, "incremental_conversions_se": se,
                               "conversions_per_1000_contacts": 1000 * inc / mask.sum() if mask.sum() else float("nan"),
                               "predicted_incremental": float(u[mask].sum())}
        if rev is not None:
            r_inc, r_se = _incremental(mask, rev, t)
            row.update(incremental_revenue=r_inc, incremental_revenue_se=r_se,
                       net_revenue=r_inc - cost_per_contact * mask.sum())
        rows.append(row)
    return pd.DataFrame(rows)
