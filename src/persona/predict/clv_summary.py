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
    _unit(freq)
    return PurchaseDays(transactions, columns).summary(calibration_end, observation_end=observation_end, freq=freq)


def _unit(freq: str) -> float:
    """Days per time unit of ``freq``.

    Raises:
        InputError: unknown ``freq``.
    """
    if freq not in UNITS:
        raise InputError(f"freq={freq!r} is not supported", hint=f"use one of {sorted(UNITS)}")
    return UNITS[freq]


class PurchaseDays:
    """Each customer's purchase days (and their revenue) as sorted arrays, prepared once for many summaries.

    Rolling backtests summarise one history at many cut-offs; this reads and groups the transactions once and
    answers each cut-off with array operations.

    Args:
        transactions: one row per transaction with customer, date and (optional) revenue columns.
        columns: column names of ``transactions``.

    Raises:
        SchemaError: a required column is missing.
    """

    def __init__(self, transactions: pd.DataFrame, columns: TransactionColumns | None = None) -> None:
        daily = _daily(transactions, columns or TransactionColumns())  # sorted by customer, then day
        self.code, self.customers = pd.factorize(daily["customer_id"])  # codes ascend with the sorted ids
        self.day = daily["day"].to_numpy()
        self.revenue = daily["revenue"].to_numpy()

    def first_day(self) -> pd.Timestamp:
        """The first purchase day (NaT when there is none)."""
        return pd.Timestamp(self.day.min()) if len(self.day) else pd.NaT

    def summary(self, calibration_end: str | pd.Timestamp, *, observation_end: str | pd.Timestamp | None = None,
                freq: str = "W") -> pd.DataFrame:
        """The summary of :func:`rfm_summary` at ``calibration_end`` (same arguments, same frame)."""
        unit = _unit(freq)
        cal_end = pd.Timestamp(calibration_end).normalize()
        cal = self.day <= cal_end.to_datetime64()
        if not cal.any():
            raise InputError(f"no transactions on or before calibration end {cal_end.date()}", hint="choose a later calibration end")
        obs_end = check_observation_end(cal_end, observation_end)
        code, day, revenue = self.code[cal], self.day[cal], self.revenue[cal]
        starts = np.flatnonzero(np.r_[True, code[1:] != code[:-1]])
        ends = np.r_[starts[1:], len(code)] - 1
        days = pd.DataFrame(
            {"first": day[starts], "last": day[ends], "n_days": ends - starts + 1,
             # pandas' grouped sum (compensated): the same totals as a groupby on the customer ids
             "revenue": pd.Series(revenue).groupby(code).sum().to_numpy(), "first_revenue": revenue[starts]},
            index=pd.Index(self.customers[code[starts]], name="customer_id"),
        )
        out = summary_from_days(days, cal_end, unit)
        if obs_end is not None:
            hold = (self.day > cal_end.to_datetime64()) & (self.day <= obs_end.to_datetime64())
            g = pd.Series(self.revenue[hold]).groupby(self.code[hold])
            totals = pd.DataFrame({"n_days": g.size(), "revenue": g.sum()})
            totals.index = self.customers[totals.index]
            add_holdout(out, totals, cal_end, obs_end, unit)
        return out

    def recent_days(self, cutoff: pd.Timestamp, days: int) -> pd.Series:
        """Purchase days per customer in the ``days`` days up to and including ``cutoff`` (customers with none left out)."""
        stop = cutoff.to_datetime64()
        recent = (self.day <= stop) & (self.day > stop - np.timedelta64(days, "D"))
        counts = np.bincount(self.code[recent], minlength=len(self.customers))
        return pd.Series(counts, index=self.customers)[counts > 0]


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
