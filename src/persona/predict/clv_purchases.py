"""The workspace's purchases as the CLV stage reads them, on the local engine (Spark: ``persona.engines.spark.clv``).

The stage needs the purchases' count and day span, the per-customer (frequency, recency, T, monetary) summaries
of the BTYD models, the daily revenue of the forecast, and the transactions the backtests and the hybrid model
replay. Each engine answers these questions its way; :func:`persona.engines.open_purchases` picks one.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from persona.errors import InputError
from persona.predict.clv_summary import rfm_summary
from persona.predict.forecast import revenue_series
from persona.privacy.tombstones import erased_customers, without_erased

PURCHASES_SQL = "SELECT customer_id, ts, revenue FROM events WHERE event_type = 'purchase'"


def load_purchases(store: Any) -> pd.DataFrame:
    """The workspace's purchases as DataFrame[customer_id, date, revenue] (naive UTC timestamps), none of an erased
    customer.

    Raises:
        InputError: the workspace has no purchase events.
    """
    ev = without_erased(store.read_frame(PURCHASES_SQL), erased_customers(store))
    if ev.empty:
        raise no_purchases()
    ts = pd.to_datetime(ev["ts"], utc=True).dt.tz_convert(None)
    return pd.DataFrame({"customer_id": ev["customer_id"].astype(str), "date": ts, "revenue": pd.to_numeric(ev["revenue"], errors="coerce").fillna(0.0)})


def no_purchases() -> InputError:
    """The error of a workspace without purchase events."""
    return InputError("the workspace has no purchase events", hint="ingest purchases first (persona ingest … or persona demo)")


def no_amounts(n: int) -> InputError:
    """The error of purchases that all lack an amount."""
    return InputError(f"none of the workspace's {n:,} purchases carries an amount: lifetime value needs "
                      "what each purchase was worth",
                      hint="ingest purchase events with a revenue column (or value and quantity)")


class PurchaseLog:
    """The purchases held in this process as DataFrame[customer_id, date, revenue] (the local engine)."""

    engine = "local"

    def __init__(self, transactions: pd.DataFrame) -> None:
        self.tx = transactions

    @classmethod
    def from_store(cls, store: Any) -> PurchaseLog:
        """The store's purchases (see :func:`load_purchases`)."""
        return cls(load_purchases(store))

    def count(self) -> int:
        """Number of purchase rows."""
        return int(len(self.tx))

    def require_amounts(self) -> PurchaseLog:
        """``self`` when some purchase carries a positive amount.

        Raises:
            InputError: none does (lifetime value needs amounts).
        """
        if not (self.tx["revenue"] > 0).any():
            raise no_amounts(self.count())
        return self

    def days(self) -> tuple[pd.Timestamp, pd.Timestamp]:
        """The first and last purchase day."""
        return self.tx["date"].min().normalize(), self.tx["date"].max().normalize()

    def transactions(self) -> pd.DataFrame:
        """The transactions the backtests and the hybrid model replay."""
        return self.tx

    def summary(self, calibration_end: pd.Timestamp, *, observation_end: pd.Timestamp | None = None, freq: str = "W") -> pd.DataFrame:
        """Per-customer summary (see :func:`persona.predict.clv_summary.rfm_summary`)."""
        return rfm_summary(self.tx, calibration_end, observation_end=observation_end, freq=freq)

    def revenue_series(self, freq: str = "D") -> pd.Series:
        """Revenue per day or week (see :func:`persona.predict.forecast.revenue_series`)."""
        return revenue_series(self.tx, freq)
