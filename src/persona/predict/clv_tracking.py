"""Tracking curves: repeat purchases per period, actual against what each fitted transaction model expects.

The diagnostic of Fader, Hardie & Lee (2005, figures 1-2): every customer acquired by the calibration end is
followed from their first purchase day, and a model's expected repeat purchases in a period are
``Σ_c E[X(age_c(end))] − E[X(age_c(start))]``, where ``E[X(t)]`` is the model's unconditional expectation for
a new customer over their first ``t`` time units. Unlike the conditional per-customer forecast it uses no
customer's history, so it shows *when* a model falls behind: a steady drift means the wrong dropout process,
bumps in the actual line that no model follows are seasonality the calibration period could not show.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from persona.errors import InputError
from persona.predict.clv_summary import UNITS, TransactionColumns, _daily


def period_bounds(first_day: pd.Timestamp, calibration_end: pd.Timestamp, observation_end: pd.Timestamp,
                  period_days: int) -> pd.DatetimeIndex:
    """Period boundaries (each a period's first day; the last is the day after ``observation_end``).

    Periods are laid out from the day after the calibration end, backwards to the first day and forwards to the
    observation end, so the calibration/holdout boundary is always a period boundary (the first and last periods
    may be shorter).
    """
    split = calibration_end + pd.Timedelta(days=1)
    stop = observation_end + pd.Timedelta(days=1)
    step = pd.Timedelta(days=period_days)
    back = [split]
    while back[-1] - step > first_day:
        back.append(back[-1] - step)
    back.append(first_day)
    fwd = []
    nxt = split + step
    while nxt < stop:
        fwd.append(nxt)
        nxt += step
    return pd.DatetimeIndex(sorted(back) + fwd + [stop])


def tracking_curves(
    transactions: pd.DataFrame,
    calibration_end: str | pd.Timestamp,
    observation_end: str | pd.Timestamp,
    models: Mapping[str, Any],
    *,
    freq: str = "W",
    period_days: int = 7,
    columns: TransactionColumns | None = None,
) -> dict[str, Any]:
    """Actual and expected repeat purchases per period, over the calibration period and the holdout.

    Args:
        transactions: one row per transaction (customer, date, optional revenue columns).
        calibration_end: last calibration day; only customers whose first purchase is on or before it count.
        observation_end: last holdout day.
        models: name → fitted model with ``expected_purchases(t)`` (t in ``freq`` units since the first
            purchase); models without it are left out.
        freq: the models' time unit, "W" or "D".
        period_days: length of a period in days.
        columns: column names of ``transactions``.

    Returns:
        ``{"period_start": [ISO dates], "period_days", "calibration_periods", "actual": [...],
        "expected": {name: [...]}, "calibration_actual", "holdout_actual", "calibration_expected": {name: …},
        "holdout_expected": {name: …}}``.

    Raises:
        InputError: unknown ``freq``, a period shorter than a day, or an observation end not after the calibration end.
    """
    if freq not in UNITS:
        raise InputError(f"freq={freq!r} is not supported", hint=f"use one of {sorted(UNITS)}")
    if isinstance(period_days, bool) or not isinstance(period_days, int | np.integer) or period_days < 1:
        raise InputError(f"period_days must be a whole number of days >= 1, got {period_days!r}")
    cal_end = pd.Timestamp(calibration_end).normalize()
    obs_end = pd.Timestamp(observation_end).normalize()
    if obs_end <= cal_end:
        raise InputError(f"observation end {obs_end.date()} is not after calibration end {cal_end.date()}", hint="pass a later observation end")
    daily = _daily(transactions, columns or TransactionColumns())
    first_day = daily.groupby("customer_id")["day"].min()
    acquired = first_day[first_day <= cal_end]
    if acquired.empty:
        raise InputError(f"no customer bought on or before {cal_end.date()}", hint="choose a later calibration end")
    bounds = period_bounds(acquired.min(), cal_end, obs_end, int(period_days))
    first = daily["customer_id"].map(acquired)  # NaT for customers acquired after the calibration end
    repeat = daily[(daily["day"] > first) & (daily["day"] <= obs_end)]
    which = np.searchsorted(bounds.to_numpy(), repeat["day"].to_numpy(), side="right") - 1
    actual = np.bincount(which, minlength=len(bounds) - 1)[: len(bounds) - 1].astype(float)
    # customers who started on the same day share their expectation: evaluate once per first day
    starts = acquired.value_counts()
    age_days = (bounds.to_numpy()[None, :] - starts.index.to_numpy()[:, None]) / np.timedelta64(1, "D")
    ages = np.clip(age_days, 0.0, None) / UNITS[freq]
    n_cal = int(np.searchsorted(bounds.to_numpy(), (cal_end + pd.Timedelta(days=1)).to_datetime64()))
    expected: dict[str, list[float]] = {}
    for name, model in models.items():
        fn = getattr(model, "expected_purchases", None)
        if fn is None:
            continue
        cum = np.asarray(fn(ages.ravel()), dtype=float).reshape(ages.shape)
        expected[name] = (np.diff(cum, axis=1) * starts.to_numpy()[:, None]).sum(axis=0).tolist()
    return {
        "period_start": [d.date().isoformat() for d in bounds[:-1]],
        "period_days": int(period_days),
        "calibration_periods": n_cal,
        "actual": actual.tolist(),
        "expected": expected,
        "calibration_actual": float(actual[:n_cal].sum()),
        "holdout_actual": float(actual[n_cal:].sum()),
        "calibration_expected": {n: float(np.sum(v[:n_cal])) for n, v in expected.items()},
        "holdout_expected": {n: float(np.sum(v[n_cal:])) for n, v in expected.items()},
    }


def tracking_blocks(track: Mapping[str, Any], n_blocks: int = 13) -> list[dict[str, Any]]:
    """The tracking curves summed into at most ``n_blocks`` consecutive blocks (a table a person can read).

    Blocks never straddle the calibration/holdout boundary.
    """
    n, n_cal = len(track["actual"]), int(track["calibration_periods"])
    size = max(1, int(np.ceil(n / max(n_blocks, 1))))
    edges = sorted({*range(0, n_cal, size), *range(n_cal, n, size), n})
    rows = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        row: dict[str, Any] = {"from": track["period_start"][lo], "periods": hi - lo,
                               "part": "calibration" if lo < n_cal else "holdout",
                               "actual": round(float(np.sum(track["actual"][lo:hi])), 1)}
        for name, vals in track["expected"].items():
            row[name] = round(float(np.sum(vals[lo:hi])), 1)
        rows.append(row)
    return rows
