"""Next purchase date per customer from the BG/NBD posterior, with a time-split backtest.

Given a customer is alive, the wait to the next purchase is exponential with a rate whose posterior is
Gamma(r + x, alpha + T); the median wait is (alpha + T)(2^{1/(r+x)} - 1). The chance of buying within a
window is P(alive) * (1 - ((alpha + T) / (alpha + T + t))^{r+x}).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import brier_score_loss, roc_auc_score

from persona.errors import InputError
from persona.predict.clv import BetaGeoModel
from persona.predict.clv_summary import rfm_summary


def predict_next_purchase(transactions: pd.DataFrame, as_of: str | pd.Timestamp, *, window_days: int = 30) -> pd.DataFrame:
    """Per customer: P(alive), P(purchase within ``window_days``), the median next purchase date (if alive).

    Args:
        transactions: DataFrame[customer_id, date, revenue].
        as_of: the day predictions are made (history up to and including it).
        window_days: the window of ``p_purchase_window``.

    Returns:
        DataFrame indexed by customer_id with ``p_alive, p_purchase_window, median_days_to_next, next_purchase_date``.

    Raises:
        InputError: window_days < 1 or no history.
    """
    if window_days < 1:
        raise InputError(f"window_days={window_days} must be >= 1", hint="e.g. 30")
    as_of = pd.Timestamp(as_of).normalize()
    s = rfm_summary(transactions, as_of, freq="D")
    m = BetaGeoModel().fit(s["frequency"], s["recency"], s["T"])
    x, r, T = s["frequency"], s["recency"], s["T"]
    med = m.median_time_to_next_purchase(x, r, T)
    out = pd.DataFrame(
        {
            "p_alive": m.probability_alive(x, r, T),
            "p_purchase_window": m.probability_purchase_within(window_days, x, r, T),
            "median_days_to_next": med,
        },
        index=s.index,
    )
    out["next_purchase_date"] = as_of + pd.to_timedelta(np.ceil(med), unit="D")
    out.attrs["params"] = m.params_
    return out


def backtest_next_purchase(transactions: pd.DataFrame, cutoff: str | pd.Timestamp, *, window_days: int = 30) -> dict[str, Any]:
    """Score predictions made at ``cutoff`` against what happened after it (never fit on later data).

    Returns:
        AUC / Brier of P(purchase within window) vs a recency-only baseline, and the median absolute error in
        days of the predicted next purchase date for customers who did come back within the data.
    """
    cutoff = pd.Timestamp(cutoff).normalize()
    d = pd.to_datetime(transactions["date"]).dt.normalize()
    pred = predict_next_purchase(transactions[d <= cutoff], cutoff, window_days=window_days)
    after = transactions.assign(day=d)[d > cutoff]
    first_next = after.groupby(after["customer_id"].astype(str))["day"].min()
    nxt = first_next.reindex(pred.index)
    bought = ((nxt - cutoff).dt.days <= window_days).fillna(False).to_numpy()
    recency_days = rfm_summary(transactions[d <= cutoff], cutoff, freq="D")
    baseline = -(recency_days["T"] - recency_days["recency"]).reindex(pred.index).to_numpy()
    res: dict[str, Any] = {"cutoff": str(cutoff.date()), "window_days": window_days, "n": int(len(pred)), "base_rate": float(bought.mean())}
    if 0 < bought.mean() < 1:
        res["auc"] = float(roc_auc_score(bought, pred["p_purchase_window"]))
        res["auc_recency_baseline"] = float(roc_auc_score(bought, baseline))
        res["brier"] = float(brier_score_loss(bought, pred["p_purchase_window"].clip(0, 1)))
        res["brier_base_rate"] = float(brier_score_loss(bought, np.full(len(bought), bought.mean())))
    came_back = nxt.notna().to_numpy()
    if came_back.any():
        err = np.abs((pred["next_purchase_date"][came_back] - nxt[came_back]).dt.days.to_numpy())
        res["next_date_median_abs_error_days"] = float(np.median(err))
        res["n_returned"] = int(came_back.sum())
    return res
