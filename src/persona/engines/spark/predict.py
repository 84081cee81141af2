"""The purchase aggregates of the outcome models' labels, on Spark.

The churn, propensity and spend labels of a cutoff t need, per customer, only whether they bought in
(t, t + horizon], in which top-level categories, and for how much. Spark computes exactly that, one row
per (customer, top-level category) of the window, for all of a backtest's windows in one pass, so no purchase
line ever reaches this process.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from persona.engines.spark.shop import SparkShop, as_utc
from persona.profiles.source import PURCHASE_TYPES


def top_level_column(F: Any, category: Any) -> Any:
    """The top level of a category path ("Home > Kitchen" → "Home") as a Spark column, as ``top_level`` reads it."""
    return F.regexp_replace(F.split(category, ">").getItem(0), r"^\s+|\s+$", "")


def purchase_lines(shop: SparkShop) -> Any:
    """The shop's purchase lines ``customer_id, ts, revenue, top_category`` as a Spark frame, cached once per shop."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    cached = shop.__dict__.get("_purchase_lines")
    if cached is None:
        cats = (shop.products.where(F.col("product_id").isNotNull()).groupBy("product_id")
                .agg(F.first("category").alias("category")))
        cached = (shop.events.where(F.col("event_type").isin(*sorted(PURCHASE_TYPES)))
                  .join(F.broadcast(cats), "product_id", "left")
                  .select("customer_id", "ts", "revenue", top_level_column(F, F.col("category")).alias("top_category"))
                  .persist(StorageLevel.MEMORY_AND_DISK))
        shop.__dict__["_purchase_lines"] = cached
    return cached


def window_purchases(shop: SparkShop, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Rows ``customer_id, top_category, revenue``: the revenue of each customer's purchase lines in (start, end]
    per top-level category (a missing category is its own row), aggregated on Spark."""
    return purchases_per_window(shop, [(start, end)])[0]


def purchases_per_window(shop: SparkShop, windows: Sequence[tuple[pd.Timestamp, pd.Timestamp]]) -> list[pd.DataFrame]:
    """:func:`window_purchases` of every window, in their order, from one Spark pass: each purchase line is paired with
    the windows holding it (a join with the small window table) and summed per (window, customer, category)."""
    from pyspark.sql import functions as F

    table = shop.session.createDataFrame([(k, as_utc(lo).to_pydatetime(), as_utc(hi).to_pydatetime()) for k, (lo, hi) in enumerate(windows)],
                                         "k int, lo timestamp, hi timestamp")
    inside = (F.col("ts") > F.col("lo")) & (F.col("ts") <= F.col("hi"))
    agg = (purchase_lines(shop).join(F.broadcast(table), inside).groupBy("k", "customer_id", "top_category")
           .agg(F.sum("revenue").alias("revenue")).toPandas())
    agg["revenue"] = agg["revenue"].astype(float)
    parts = dict(tuple(agg.groupby("k", sort=False))) if len(agg) else {}
    return [parts.get(k, agg.iloc[:0])[["customer_id", "top_category", "revenue"]].reset_index(drop=True) for k in range(len(windows))]


def category_counts(shop: SparkShop) -> pd.Series:
    """Purchase lines per top-level category (categories without a name left out), counted on Spark."""
    from pyspark.sql import functions as F

    rows = purchase_lines(shop).where(F.col("top_category").isNotNull()).groupBy("top_category").count().toPandas()
    return pd.Series(rows["count"].to_numpy(dtype="int64"), index=rows["top_category"].astype(str).to_numpy(), name="count")
