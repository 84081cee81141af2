"""Per-customer (frequency, recency, T, monetary) summaries of transactions, as BTYD models need them.

Conventions follow Fader, Hardie & Lee (2005) and the ``lifetimes`` library: transactions of the same
customer on the same day are merged into one; ``frequency`` counts *repeat* purchase days (first purchase
excluded); ``recency`` is the age of the customer at the last purchase; ``T`` the age at the end of the
calibration period; ``monetary_value`` the mean value of the repeat purchase days (0 when there are none).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from persona.errors import InputError, SchemaError

UNITS = {"D": 1.0, "W": 7.0}


@dataclass(frozen=True)
class TransactionColumns:
    """Names of the customer, date and value columns of a transactions frame."""

    customer: str = "customer_id"
    date: str = "date"
    revenue: str = "revenue"


def _daily(tx: pd.DataFrame, cols: TransactionColumns) -> pd.DataFrame:
    missing = [c for c in (cols.customer, cols.date) if c not in tx.columns]
    if missing:
        raise SchemaError(
            f"transactions lack column(s) {missing}; got {list(tx.columns)}",
            hint=f"pass a frame with {cols.customer!r}, {cols.date!r} and optionally {cols.revenue!r}",
        )
    day = pd.to_datetime(tx[cols.date], utc=False)
    if getattr(day.dt, "tz", None) is not None:
        day = day.dt.tz_convert(None)
    rev = tx[cols.revenue].astype(float) if cols.revenue in tx.columns else pd.Series(0.0, index=tx.index)
    frame = pd.DataFrame({"customer_id": tx[cols.customer].astype(str).values, "day": day.dt.normalize().values, "revenue": rev.fillna(0.0).values})
    return frame.groupby(["customer_id", "day"], sort=True, as_index=False)["revenue"].sum()


def rfm_summary(
    transactions: pd.DataFrame,
    calibration_end: str | pd.Timestamp,
    *,
    observation_end: str | pd.Timestamp | None = None,
    freq: str = "W",
    columns: TransactionColumns | None = None,
) -> pd.DataFrame:
    """Summarise transactions into one row per customer acquired on or before ``calibration_end``.

    Args:
        transactions: one row per transaction with customer, date and (optional) revenue columns.
        calibration_end: last day (inclusive) of the calibration period.
        observation_end: last day (inclusive) of a holdout period; adds ``frequency_holdout``,
            ``monetary_holdout`` and ``duration_holdout`` columns.
        freq: time unit of recency and T: ``"W"`` (weeks, fractional) or ``"D"`` (days).
        columns: column names of ``transactions``.

    Returns:
        DataFrame indexed by ``customer_id`` with ``frequency, recency, T, monetary_value, first_purchase``
        (plus the holdout columns when asked).

    Raises:
        InputError: unknown ``freq`` or an observation end before the calibration end.
        SchemaError: a required column is missing.
    """
    if freq not in UNITS:
        raise InputError(f"freq={freq!r} is not supported", hint=f"use one of {sorted(UNITS)}")
    unit = UNITS[freq]
    cols = columns or TransactionColumns()
    daily = _daily(transactions, cols)
    cal_end = pd.Timestamp(calibration_end).normalize()
    cal = daily[daily["day"] <= cal_end]
    if cal.empty:
        raise InputError(f"no transactions on or before calibration end {cal_end.date()}", hint="choose a later calibration end")
    obs_end = check_observation_end(cal_end, observation_end)
    g = cal.groupby("customer_id", sort=True)
    first_rev = cal.drop_duplicates("customer_id", keep="first").set_index("customer_id")["revenue"]
    days = pd.DataFrame({"first": g["day"].min(), "last": g["day"].max(), "n_days": g.size(), "revenue": g["revenue"].sum()})
    out = summary_from_days(days.assign(first_revenue=first_rev.reindex(days.index)), cal_end, unit)
    if obs_end is not None:
        hold = daily[(daily["day"] > cal_end) & (daily["day"] <= obs_end)]
        hg = hold.groupby("customer_id")
        add_holdout(out, pd.DataFrame({"n_days": hg.size(), "revenue": hg["revenue"].sum()}), cal_end, obs_end, unit)
    return out


def check_observation_end(cal_end: pd.Timestamp, observation_end: str | pd.Timestamp | None) -> pd.Timestamp | None:
    """The holdout's last day, normalised.

    Raises:
        InputError: it is not after the calibration end.
    """
    if observation_end is None:
        return None
    obs_end = pd.Timestamp(observation_end).normalize()
    if obs_end <= cal_end:
        raise InputError(f"observation end {obs_end.date()} is not after calibration end {cal_end.date()}", hint="pass a later observation_end")
    return obs_end


def summary_from_days(days: pd.DataFrame, cal_end: pd.Timestamp, unit: float) -> pd.DataFrame:
    """The summary from each customer's purchase days up to the calibration end: ``first``, ``last`` (days),
    ``n_days``, ``revenue`` (total) and ``first_revenue`` (of the first day), indexed by customer_id.

    Every engine reduces its transactions to these columns; the arithmetic is this one function.
    """
    freq_ = (days["n_days"] - 1).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        monetary = np.where(freq_ > 0, (days["revenue"] - days["first_revenue"]) / freq_.replace(0, np.nan), 0.0)
    out = pd.DataFrame(
        {
            "frequency": freq_,
            "recency": (days["last"] - days["first"]).dt.days / unit,
            "T": (cal_end - days["first"]).dt.days / unit,
            "monetary_value": np.nan_to_num(monetary),
            "first_purchase": days["first"],
        }
    )
    out.index.name = "customer_id"
    return out


def add_holdout(out: pd.DataFrame, hold: pd.DataFrame, cal_end: pd.Timestamp, obs_end: pd.Timestamp, unit: float) -> None:
    """Add the holdout columns to a summary from each customer's holdout ``n_days`` and ``revenue`` (total)."""
    out["frequency_holdout"] = hold["n_days"].reindex(out.index).fillna(0).astype(float)
    out["monetary_holdout"] = (hold["revenue"] / hold["n_days"]).reindex(out.index).fillna(0.0)
    out["duration_holdout"] = (obs_end - cal_end).days / unit
