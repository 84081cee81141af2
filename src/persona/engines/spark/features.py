"""Profile features on Spark: the same frame as :func:`persona.profiles.features.compute_features`.

Spark does every pass over the events (orders, counts, affinities, habits, messages, reviews) and
returns one small row set per customer; this process then does the per-customer arithmetic. Many
cutoffs (a backtest's) share each pass: every event is paired with the cutoffs at or after it (a join
with the small cutoff table) and the aggregates are grouped by (cutoff, customer), so a pass costs the
same number of Spark jobs for one cutoff as for ten. The result equals the local engine's to
floating-point rounding (tested on the demo shop).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import pandas as pd

from persona.engines.spark.shop import SparkShop, as_utc, only_customers
from persona.profiles.features import AFFINITY_WEIGHTS, DAY, TOP_BRANDS, TOP_CATEGORIES, send_days_since
from persona.profiles.source import (
    CART_TYPES,
    EMAIL_CLICK_TYPES,
    EMAIL_OPEN_TYPES,
    EMAIL_SENT_TYPES,
    MESSAGE_TYPES,
    PURCHASE_TYPES,
    VIEW_TYPES,
)

log = logging.getLogger(__name__)

_COLUMNS = ["frequency", "monetary", "avg_order_value", "recency_days", "mean_interpurchase_days", "orders_90d", "revenue_90d",
           "orders_30d", "tenure_days", "events_30d", "n_views", "n_carts", "view_to_order_rate", "discount_share", "price_index",
           "n_categories", "top_categories", "category_shares", "top_brands", "brand_shares", "preferred_channel",
           "preferred_hour", "preferred_dow", "email_sent", "email_open_rate", "email_click_rate", "n_reviews",
           "avg_sentiment", "age", "gender", "country", "first_seen_at", "last_purchase_at"]


def _pandas(df: Any) -> pd.DataFrame:
    """A Spark result as pandas, timestamps as UTC."""
    out = df.toPandas()
    for c, t in df.dtypes:
        if t == "timestamp":
            out[c] = pd.to_datetime(out[c]).dt.tz_localize("UTC") if len(out) else pd.to_datetime(out[c], utc=True)
    return out


def _per_cutoff(df: Any, n: int, index: str | None = "customer_id") -> list[pd.DataFrame]:
    """A Spark result keyed by cutoff number ``k``, collected and split into one frame per cutoff (indexed by ``index``)."""
    rows = _pandas(df)
    parts = dict(tuple(rows.groupby("k", sort=False))) if len(rows) else {}
    out = [parts.get(k, rows.iloc[:0]).drop(columns="k") for k in range(n)]
    return [p.set_index(index) for p in out] if index else out


def _count_where(F: Any, cond: Any) -> Any:
    """The number of rows where ``cond`` holds, as a Spark aggregate."""
    return F.sum(F.when(cond, 1).otherwise(0))


def _kind(F: Any) -> Any:
    col = F.col("event_type")
    return (F.when(col.isin(*sorted(PURCHASE_TYPES)), "purchase").when(col.isin(*sorted(CART_TYPES)), "cart")
            .when(col.isin(*sorted(VIEW_TYPES)), "view").when(col.isin(*sorted(MESSAGE_TYPES)), "message").otherwise("other"))


def affinity_weight(F: Any) -> Any:
    """Each event's interest weight (purchase 3, cart 2, view 1, other 0.5, messages 0), as a Spark column."""
    kind = _kind(F)
    weight = F.lit(0.0)
    for name, w in AFFINITY_WEIGHTS.items():
        weight = F.when(kind == name, F.lit(w)).otherwise(weight)
    return weight


def _ranked_shares(ev: Any, col: str, keep: int) -> Any:
    """Per cutoff and customer, the ``keep`` largest affinity shares of ``col`` (ties by name), and how many are positive."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    w = ev.where((F.col("w") > 0) & F.col(col).isNotNull()).groupBy("k", "customer_id", col).agg(F.sum("w").alias("wc"))
    per = Window.partitionBy("k", "customer_id")
    ranked = (w.withColumn("tot", F.sum("wc").over(per)).withColumn("n", F.count("*").over(per))
              .withColumn("rank", F.row_number().over(per.orderBy(F.desc("wc"), F.asc(col)))).where(F.col("rank") <= keep))
    return ranked.select("k", "customer_id", F.col(col).alias("name"), (F.col("wc") / F.col("tot")).alias("share"), "rank", "n")


def _mode(frame: Any, col: str) -> Any:
    """The most frequent non-null ``col`` per cutoff and customer (ties: the smaller value), as a Spark frame."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    counts = frame.where(F.col(col).isNotNull()).groupBy("k", "customer_id", col).count()
    order = Window.partitionBy("k", "customer_id").orderBy(F.desc("count"), F.asc(col))
    return counts.withColumn("r", F.row_number().over(order)).where(F.col("r") == 1).select("k", "customer_id", col)


def _lists(ranked: pd.DataFrame, ids: pd.Index, n: int, as_dict: bool) -> pd.Series:
    part = ranked[ranked["rank"] <= n].sort_values(["customer_id", "rank"])
    if part.empty:
        return pd.Series(np.nan, index=ids, dtype=object)
    if as_dict:
        grouped = part.groupby("customer_id", sort=False).apply(
            lambda g: {str(a): round(float(b), 4) for a, b in zip(g["name"], g["share"], strict=True)}, include_groups=False)
    else:
        grouped = part.groupby("customer_id", sort=False)["name"].agg(lambda s: [str(x) for x in s])
    return grouped.reindex(ids)


@dataclass
class _Passes:
    """What Spark's passes bring back: per cutoff, one frame per pass (customers' attributes are one frame for all)."""

    orders: list[pd.DataFrame]
    prices: list[pd.DataFrame]
    activity: list[pd.DataFrame]
    categories: list[pd.DataFrame]
    brands: list[pd.DataFrame]
    habits: dict[str, list[pd.DataFrame]]
    messages: list[pd.DataFrame]
    reviews: list[pd.DataFrame]
    customers: pd.DataFrame
    daily_opens: Callable[[], list[pd.DataFrame]]


def spark_features(shop: SparkShop, as_of: Any, customer_ids: Any = None, *, n_categories: int = 12) -> pd.DataFrame:
    """Profile features of each customer from everything up to ``as_of``, computed on Spark.

    Args:
        shop: the shop as Spark frames.
        as_of: point in time (UTC); later rows are ignored.
        customer_ids: customers to describe (default: everyone known at ``as_of``).
        n_categories: length of the category-share dictionary kept per customer.

    Returns:
        The frame :func:`persona.profiles.features.compute_features` returns, row for row.
    """
    return spark_features_at(shop, [as_of], customer_ids, n_categories=n_categories)[0]


def spark_features_at(shop: SparkShop, cutoffs: Sequence[Any], customer_ids: Any = None, *, n_categories: int = 12) -> list[pd.DataFrame]:
    """Profile features as of each of ``cutoffs``, every pass over the events made once for all of them.

    Args:
        shop: the shop as Spark frames.
        cutoffs: points in time (UTC); each frame ignores the rows after its own.
        customer_ids: customers to describe at every cutoff (default: everyone known at each).
        n_categories: length of the category-share dictionary kept per customer.

    Returns:
        One frame per cutoff, in their order: what :func:`persona.profiles.features.compute_features` returns for it.
    """
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    cuts = [as_utc(t) for t in cutoffs]
    spark = shop.session
    table = spark.createDataFrame([(k, *(x.to_pydatetime() for x in (t, t - 30 * DAY, t - 90 * DAY))) for k, t in enumerate(cuts)],
                                  "k int, t timestamp, d30 timestamp, d90 timestamp")
    fixed = None if customer_ids is None else pd.Index(list(customer_ids), name="customer_id")
    ev = shop.events.join(F.broadcast(table), F.col("ts") <= F.col("t"))
    if fixed is not None:
        ev = only_customers(ev, fixed)
    ev = (ev.withColumn("kind", _kind(F)).withColumn("w", affinity_weight(F)).join(F.broadcast(_product_info(shop)), "product_id", "left")
          .persist(StorageLevel.MEMORY_AND_DISK))
    try:
        if fixed is None:
            created = (shop.customers.join(F.broadcast(table), F.col("created_at").isNull() | (F.col("created_at") <= F.col("t")))
                       .select("k", "customer_id"))
            known = ev.select("k", "customer_id").union(created).distinct()
            ids = [pd.Index(sorted(p["customer_id"].astype(str)), name="customer_id") for p in _per_cutoff(known, len(cuts), None)]
        else:
            known = table.select("k").crossJoin(spark.createDataFrame(pd.DataFrame({"customer_id": [str(c) for c in fixed]}),
                                                                      "customer_id string"))
            ids = [fixed] * len(cuts)
        passes = _passes(F, ev, table, known, shop, len(cuts), n_categories)
    finally:
        ev.unpersist()
    log.info("spark features cutoffs=%d", len(cuts))
    return [_features(passes, k, as_of, ids[k], n_categories) for k, as_of in enumerate(cuts)]


def _product_info(shop: SparkShop) -> Any:
    """Each product's category, brand, list price and its category's median price, as a small Spark frame.

    Products are a catalogue, small next to the events: their category medians are taken here, exactly.
    """
    prods = shop.products.toPandas()
    cat_median = pd.to_numeric(prods["price"], errors="coerce").groupby(prods["category"]).median()
    prods = prods.drop_duplicates("product_id")[["product_id", "category", "brand", "price"]].rename(columns={"price": "list_price"})
    prods["cat_median"] = prods["category"].map(cat_median)
    return shop.session.createDataFrame(prods.astype({"product_id": str}).astype(object).where(prods.notna(), None),
                                        "product_id string, category string, brand string, list_price double, cat_median double")


def _passes(F: Any, ev: Any, table: Any, known: Any, shop: SparkShop, n: int, n_categories: int) -> _Passes:
    """Every Spark pass of the features, grouped by (cutoff, customer) and collected."""
    buys = ev.where(F.col("kind") == "purchase")
    orders = buys.groupBy("k", "customer_id", "ts", "d30", "d90").agg(F.sum("revenue").alias("revenue"))
    unit = F.col("revenue") / F.col("quantity")
    disc = F.when(F.col("list_price").isNotNull() & unit.isNotNull(), (unit < 0.97 * F.col("list_price")).cast("double"))
    rel = unit / F.col("cat_median")
    rel = F.when(F.isnan(rel) | (F.abs(rel) == float("inf")), None).otherwise(rel)
    shop_ev = ev.where(F.col("kind") != "message").select("k", "customer_id", "channel", F.hour("ts").alias("hour"),
                                                          F.weekday("ts").alias("dow"))

    @cache
    def daily_opens() -> list[pd.DataFrame]:
        opened = (shop.events.where(F.col("event_type").isin(*sorted(EMAIL_OPEN_TYPES))).join(F.broadcast(table), F.col("ts") <= F.col("t"))
                  .groupBy("k", F.date_trunc("day", "ts").alias("day")).count())
        return _per_cutoff(opened, n, "day")

    return _Passes(
        orders=_per_cutoff(orders.groupBy("k", "customer_id").agg(
            F.count("*").alias("frequency"), F.coalesce(F.sum("revenue"), F.lit(0.0)).alias("monetary"),
            F.min("ts").alias("first_buy"), F.max("ts").alias("last_buy"),
            _count_where(F, F.col("ts") > F.col("d90")).alias("orders_90d"),
            F.sum(F.when(F.col("ts") > F.col("d90"), F.col("revenue")).otherwise(0.0)).alias("revenue_90d"),
            _count_where(F, F.col("ts") > F.col("d30")).alias("orders_30d")), n),
        prices=_per_cutoff(buys.groupBy("k", "customer_id").agg(F.avg(disc).alias("discount_share"), F.avg(rel).alias("price_index")), n),
        activity=_per_cutoff(ev.groupBy("k", "customer_id").agg(
            F.min("ts").alias("first_event"),
            _count_where(F, (F.col("kind") != "message") & (F.col("ts") > F.col("d30"))).alias("events_30d"),
            _count_where(F, F.col("kind") == "view").alias("n_views"), _count_where(F, F.col("kind") == "cart").alias("n_carts"),
            _count_where(F, F.col("event_type").isin(*sorted(EMAIL_SENT_TYPES))).alias("sent"),
            _count_where(F, F.col("event_type").isin(*sorted(EMAIL_OPEN_TYPES))).alias("opens"),
            _count_where(F, F.col("event_type").isin(*sorted(EMAIL_CLICK_TYPES))).alias("clicks")), n),
        categories=_per_cutoff(_ranked_shares(ev, "category", max(n_categories, TOP_CATEGORIES)), n, None),
        brands=_per_cutoff(_ranked_shares(ev, "brand", max(5, TOP_BRANDS)), n, None),
        habits={c: _per_cutoff(_mode(shop_ev, c), n) for c in ("channel", "hour", "dow")},
        messages=_per_cutoff(shop.messages.join(F.broadcast(table), F.col("sent_at") <= F.col("t")).groupBy("k", "customer_id").count(), n),
        reviews=_per_cutoff(_review_scores(F, table, known, shop), n),
        customers=_pandas(shop.customers.groupBy("customer_id").agg(
            *[F.first(c).alias(c) for c in ("gender", "birth_year", "country", "created_at")])).set_index("customer_id"),
        daily_opens=daily_opens,
    )


def _review_scores(F: Any, table: Any, known: Any, shop: SparkShop) -> Any:
    """Per cutoff and customer known then, the reviews up to the cutoff and their mean score: the model's sentiment
    when present (rescaled to [-1, 1] when that cutoff's sentiments all lie in [0, 1]), else the rating."""
    from pyspark.sql import Window

    rv = (shop.reviews.join(F.broadcast(table.select("k", "t")), F.col("ts").isNull() | (F.col("ts") <= F.col("t")))
          .join(known, ["k", "customer_id"], "left_semi"))
    per = Window.partitionBy("k")
    sent = F.col("sentiment")
    unit_range = (F.count(sent).over(per) > 0) & (F.min(sent).over(per) >= 0.0) & (F.max(sent).over(per) <= 1.0)
    score = F.coalesce(F.when(unit_range, 2 * sent - 1).otherwise(sent), (F.col("rating") - 3.0) / 2.0)
    score = F.when(score < -1, -1.0).when(score > 1, 1.0).otherwise(score)
    return rv.withColumn("score", score).groupBy("k", "customer_id").agg(F.count("*").alias("n"), F.avg("score").alias("avg"))


def _features(passes: _Passes, k: int, as_of: pd.Timestamp, ids: pd.Index, n_categories: int) -> pd.DataFrame:
    """The features at cutoff ``k`` from the passes' rows: the per-customer arithmetic of ``compute_features``."""
    out = pd.DataFrame(index=ids)
    _orders_block(passes.orders[k].reindex(ids), passes.prices[k].reindex(ids), as_of, out)
    first_seen = _activity_block(passes.activity[k].reindex(ids), passes.customers.reindex(ids), as_of, out)
    _affinity_block(passes.categories[k], passes.brands[k], ids, out, n_categories)
    for c in ("channel", "hour", "dow"):
        out[f"preferred_{c}"] = passes.habits[c][k][c].reindex(ids)
    _message_block(passes.messages[k]["count"].reindex(ids), lambda: passes.daily_opens()[k], as_of, out, first_seen)
    r = passes.reviews[k].reindex(ids)
    out["n_reviews"] = r["n"].fillna(0).astype(float)
    out["avg_sentiment"] = r["avg"].astype(float)
    out["age"] = out.pop("_age")
    out["gender"], out["country"] = out.pop("_gender"), out.pop("_country")
    out["first_seen_at"] = out.pop("_first_seen")
    out["last_purchase_at"] = out.pop("_last_buy")
    out = out[_COLUMNS]
    for c in out.select_dtypes(include="object").columns:  # missing as pandas has it (NaN), never None
        out[c] = out[c].where(out[c].notna(), np.nan)
    return out


def _orders_block(o: pd.DataFrame, p: pd.DataFrame, as_of: pd.Timestamp, out: pd.DataFrame) -> None:
    """RFM from orders (the purchase lines of one customer at one instant), and price sensitivity."""
    out["frequency"] = o["frequency"].fillna(0).astype(float)
    out["monetary"] = o["monetary"].fillna(0.0).astype(float)
    out["avg_order_value"] = (out["monetary"] / out["frequency"]).where(out["frequency"] > 0)
    out["recency_days"] = (as_of - o["last_buy"]) / DAY
    span = (o["last_buy"] - o["first_buy"]) / DAY
    out["mean_interpurchase_days"] = (span / (out["frequency"] - 1)).where(out["frequency"] > 1)
    out["orders_90d"] = o["orders_90d"].fillna(0).astype(float)
    out["revenue_90d"] = o["revenue_90d"].fillna(0.0).astype(float)
    out["orders_30d"] = o["orders_30d"].fillna(0).astype(float)
    out["_last_buy"] = o["last_buy"]
    out["discount_share"] = p["discount_share"].astype(float)
    out["price_index"] = p["price_index"].astype(float)


def _activity_block(a: pd.DataFrame, cust: pd.DataFrame, as_of: pd.Timestamp, out: pd.DataFrame) -> pd.Series:
    """Tenure, recent activity and event counts; returns each customer's first-seen time."""
    created = cust["created_at"]
    first_seen = pd.concat([created.where(created <= as_of), a["first_event"]], axis=1).min(axis=1)
    out["tenure_days"] = ((as_of - first_seen) / DAY).clip(lower=0)
    out["events_30d"] = a["events_30d"].fillna(0).astype(float)
    out["n_views"] = a["n_views"].fillna(0).astype(float)
    out["n_carts"] = a["n_carts"].fillna(0).astype(float)
    out["view_to_order_rate"] = (out["frequency"] / out["n_views"]).where(out["n_views"] > 0)
    for c in ("sent", "opens", "clicks"):
        out[f"_{c}"] = a[c].fillna(0).astype(float)
    birth = pd.to_numeric(cust["birth_year"], errors="coerce")
    out["_age"] = (as_of.year - birth).where((birth > 1900) & (birth <= as_of.year))
    out["_gender"], out["_country"] = cust["gender"], cust["country"]
    out["_first_seen"] = first_seen
    return first_seen


def _affinity_block(cats: pd.DataFrame, brands: pd.DataFrame, ids: pd.Index, out: pd.DataFrame, n_categories: int) -> None:
    """Category and brand shares of each customer's weighted interactions."""
    if cats.empty:
        out["n_categories"] = 0.0
    else:
        out["n_categories"] = cats.groupby("customer_id")["n"].first().reindex(ids).fillna(0).astype(float)
    out["top_categories"] = _lists(cats, ids, TOP_CATEGORIES, as_dict=False)
    out["category_shares"] = _lists(cats, ids, n_categories, as_dict=True)
    out["top_brands"] = _lists(brands, ids, TOP_BRANDS, as_dict=False)
    out["brand_shares"] = _lists(brands, ids, 5, as_dict=True)


def _message_block(msgs: pd.Series, daily_opens: Callable[[], pd.DataFrame], as_of: pd.Timestamp, out: pd.DataFrame,
                   first_seen: pd.Series) -> None:
    """Messages received and the open and click rates (send days estimated where only opens are logged)."""
    sent = out.pop("_sent").add(msgs.fillna(0).astype(float), fill_value=0).fillna(0)
    opens, clicks = out.pop("_opens"), out.pop("_clicks")
    daily_frame = daily_opens() if (sent == 0).any() else pd.DataFrame()
    if len(daily_frame):
        sent = sent.where(sent > 0, send_days_since(daily_frame["count"], first_seen, as_of))
    out["email_sent"] = sent.astype(float)
    out["email_open_rate"] = (opens / sent).clip(upper=1.0).where(sent > 0)
    out["email_click_rate"] = (clicks / sent).clip(upper=1.0).where(sent > 0)
