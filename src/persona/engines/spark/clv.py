"""The CLV stage's purchases on Spark: per-customer summaries and daily revenue aggregated by Spark.

:class:`SparkPurchases` answers what :class:`persona.predict.clv_purchases.PurchaseLog` answers, from the
same purchase rows (``event_type = 'purchase'``, read over JDBC on PostgreSQL): the BTYD summary arrives as
one row per customer, the revenue series as one row per day. The backtests and the hybrid model replay a
history; Spark first merges it into one row per customer and purchase day (all those models read).
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from persona.errors import InputError
from persona.predict.clv_purchases import PURCHASES_SQL, no_amounts, no_purchases
from persona.predict.clv_summary import UNITS, add_holdout, check_observation_end, summary_from_days
from persona.predict.forecast import revenue_series

log = logging.getLogger(__name__)


def _utc(day: pd.Timestamp) -> Any:
    """A naive UTC day as an aware datetime (PySpark reads naive ones in the process's own time zone)."""
    return pd.Timestamp(day).tz_localize("UTC").to_pydatetime()


def _naive(values: pd.Series) -> pd.Series:
    """Spark timestamps collected as naive UTC (the session's time zone is UTC)."""
    out = pd.to_datetime(values)
    return out.dt.tz_convert(None) if getattr(out.dt, "tz", None) is not None else out


class SparkPurchases:
    """The store's purchases as a Spark frame ``customer_id, ts, revenue`` (revenue missing as 0)."""

    engine = "spark"

    def __init__(self, frame: Any) -> None:
        from pyspark import StorageLevel
        from pyspark.sql import functions as F

        self.frame = frame
        self._daily = (frame.groupBy("customer_id", F.date_trunc("day", "ts").alias("day")).agg(F.sum("revenue").alias("revenue"))
                       .persist(StorageLevel.MEMORY_AND_DISK))
        self._stats: dict[str, Any] | None = None
        self._history: pd.DataFrame | None = None

    @classmethod
    def from_store(cls, session: Any, store: Any) -> SparkPurchases:
        """The store's purchase events, read by Spark over JDBC on PostgreSQL, else through this process (SQLite);
        none of an erased customer."""
        from pyspark.sql import functions as F

        from persona.engines.spark.shop import jdbc_options, jdbc_ready, without_customers
        from persona.privacy.tombstones import erased_customers

        if store.dialect == "postgresql" and jdbc_ready(session):
            url, props = jdbc_options(store.settings.url)
            raw = session.read.jdbc(url, f"({PURCHASES_SQL}) AS p", properties=props)
        else:
            ev = store.read_frame(PURCHASES_SQL)
            ev = pd.DataFrame({"customer_id": ev["customer_id"].astype(str), "ts": pd.to_datetime(ev["ts"], utc=True),
                               "revenue": pd.to_numeric(ev["revenue"], errors="coerce")})
            raw = session.createDataFrame(ev, "customer_id string, ts timestamp, revenue double")
        frame = without_customers(raw, erased_customers(store)).select(
            F.col("customer_id").cast("string").alias("customer_id"), F.col("ts").cast("timestamp").alias("ts"),
            F.coalesce(F.col("revenue").cast("double"), F.lit(0.0)).alias("revenue"))
        return cls(frame)

    def release(self) -> None:
        """Let Spark drop the daily totals it keeps (they are recomputed if used again)."""
        self._daily.unpersist()

    def _agg(self) -> dict[str, Any]:
        from pyspark.sql import functions as F

        if self._stats is None:
            row = self.frame.agg(F.count("*").alias("n"), F.min("ts").alias("first"), F.max("ts").alias("last"),
                                 F.max("revenue").alias("top")).first()
            self._stats = row.asDict()
        return self._stats

    def count(self) -> int:
        """Number of purchase rows."""
        return int(self._agg()["n"])

    def require_amounts(self) -> SparkPurchases:
        """``self`` when some purchase carries a positive amount.

        Raises:
            InputError: no purchases, or none with an amount.
        """
        stats = self._agg()
        if not stats["n"]:
            raise no_purchases()
        if stats["top"] is None or stats["top"] <= 0:
            raise no_amounts(int(stats["n"]))
        return self

    def days(self) -> tuple[pd.Timestamp, pd.Timestamp]:
        """The first and last purchase day.

        Raises:
            InputError: no purchases.
        """
        stats = self._agg()
        if not stats["n"]:
            raise no_purchases()
        day = lambda v: _naive(pd.Series([v])).iloc[0].normalize()  # noqa: E731
        return day(stats["first"]), day(stats["last"])

    def transactions(self) -> pd.DataFrame:
        """One row per customer and purchase day (``customer_id, date, revenue``), collected once: what the backtests
        and the hybrid model replay (each merges a customer's purchases of one day first)."""
        if self._history is None:
            rows = self._daily.toPandas()
            self._history = pd.DataFrame({"customer_id": rows["customer_id"].astype(str), "date": _naive(rows["day"]),
                                          "revenue": rows["revenue"].astype(float)})
            log.info("spark clv history customer_days=%d", len(self._history))
        return self._history

    def summary(self, calibration_end: pd.Timestamp, *, observation_end: pd.Timestamp | None = None, freq: str = "W") -> pd.DataFrame:
        """Per-customer (frequency, recency, T, monetary value) as :func:`persona.predict.clv_summary.rfm_summary`
        defines them, aggregated on Spark: only one row per customer reaches this process.

        Raises:
            InputError: unknown ``freq``, no purchase by the calibration end, or a holdout ending before it.
        """
        from pyspark.sql import functions as F

        if freq not in UNITS:
            raise InputError(f"freq={freq!r} is not supported", hint=f"use one of {sorted(UNITS)}")
        unit = UNITS[freq]
        cal_end = pd.Timestamp(calibration_end).normalize()
        obs_end = check_observation_end(cal_end, observation_end)
        day = F.col("day")
        cal = self._daily.where(day <= F.lit(_utc(cal_end)))
        days = cal.groupBy("customer_id").agg(F.min("day").alias("first"), F.max("day").alias("last"), F.count("*").alias("n_days"),
                                              F.sum("revenue").alias("revenue"), F.min_by("revenue", "day").alias("first_revenue"))
        rows = days.toPandas()
        if rows.empty:
            raise InputError(f"no transactions on or before calibration end {cal_end.date()}", hint="choose a later calibration end")
        rows = rows.assign(customer_id=rows["customer_id"].astype(str), first=_naive(rows["first"]), last=_naive(rows["last"]))
        out = summary_from_days(rows.set_index("customer_id").sort_index(), cal_end, unit)
        if obs_end is not None:
            hold = (self._daily.where((day > F.lit(_utc(cal_end))) & (day <= F.lit(_utc(obs_end)))).groupBy("customer_id")
                    .agg(F.count("*").alias("n_days"), F.sum("revenue").alias("revenue")).toPandas())
            add_holdout(out, hold.assign(customer_id=hold["customer_id"].astype(str)).set_index("customer_id"), cal_end, obs_end, unit)
        return out

    def revenue_series(self, freq: str = "D") -> pd.Series:
        """Revenue per day or week (see :func:`persona.predict.forecast.revenue_series`) from daily totals summed on Spark."""
        from pyspark.sql import functions as F

        per_day = self._daily.groupBy("day").agg(F.sum("revenue").alias("revenue")).toPandas()
        return revenue_series(pd.DataFrame({"date": _naive(per_day["day"]), "revenue": per_day["revenue"].astype(float)}), freq)
