"""Profile features on Spark: the same frame as :func:`persona.profiles.features.compute_features`.

Spark does every pass over the events (orders, counts, affinities, habits, messages, reviews) and
returns one small row set per customer; this process then does the per-customer arithmetic. The
result equals the local engine's to floating-point rounding (tested on the demo shop).
"""

from __future__ import annotations

import logging
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


def _pandas(df: Any, index: str = "customer_id") -> pd.DataFrame:
    """A Spark result as pandas (timestamps as UTC), indexed by ``index``."""
    out = df.toPandas()
    for c, t in df.dtypes:
        if t == "timestamp":
            out[c] = pd.to_datetime(out[c]).dt.tz_localize("UTC") if len(out) else pd.to_datetime(out[c], utc=True)
    return out.set_index(index) if index else out


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


def _ranked_shares(ev: Any, col: str, keep: int) -> pd.DataFrame:
    """Per customer, the ``keep`` largest affinity shares of ``col`` (ties by name), and how many are positive."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    w = ev.where((F.col("w") > 0) & F.col(col).isNotNull()).groupBy("customer_id", col).agg(F.sum("w").alias("wc"))
    per = Window.partitionBy("customer_id")
    ranked = (w.withColumn("tot", F.sum("wc").over(per)).withColumn("n", F.count("*").over(per))
              .withColumn("rank", F.row_number().over(per.orderBy(F.desc("wc"), F.asc(col)))).where(F.col("rank") <= keep))
    return ranked.select("customer_id", F.col(col).alias("name"), (F.col("wc") / F.col("tot")).alias("share"), "rank", "n").toPandas()


def _mode(frame: Any, col: str) -> Any:
    """The most frequent non-null ``col`` per customer (ties: the smaller value), as a Spark frame."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    counts = frame.where(F.col(col).isNotNull()).groupBy("customer_id", col).count()
    order = Window.partitionBy("customer_id").orderBy(F.desc("count"), F.asc(col))
    return counts.withColumn("r", F.row_number().over(order)).where(F.col("r") == 1).select("customer_id", col)


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
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    as_of = as_utc(as_of)
    at = F.lit(as_of.to_pydatetime())
    spark = shop.session
    upto = shop.events.where(F.col("ts") <= at)
    if customer_ids is None:
        created = shop.customers.where(F.col("created_at").isNull() | (F.col("created_at") <= at)).select("customer_id")
        known = upto.select("customer_id").union(created).distinct().toPandas()["customer_id"]
        ids = pd.Index(sorted(known.astype(str)), name="customer_id")
        ev = upto
    else:
        ids = pd.Index(list(customer_ids), name="customer_id")
        ev = only_customers(upto, ids)
    out = pd.DataFrame(index=ids)

    # Products are a catalogue, small next to the events: their category medians are taken here, exactly.
    prods = shop.products.toPandas()
    cat_median = pd.to_numeric(prods["price"], errors="coerce").groupby(prods["category"]).median()
    prods = prods.drop_duplicates("product_id")[["product_id", "category", "brand", "price"]].rename(columns={"price": "list_price"})
    prods["cat_median"] = prods["category"].map(cat_median)
    pinfo = spark.createDataFrame(prods.astype({"product_id": str}).astype(object).where(prods.notna(), None),
                                  "product_id string, category string, brand string, list_price double, cat_median double")
    ev = (ev.withColumn("kind", _kind(F)).withColumn("w", affinity_weight(F)).join(F.broadcast(pinfo), "product_id", "left")
          .persist(StorageLevel.MEMORY_AND_DISK))
    try:
        _orders_block(F, ev, at, as_of, ids, out)
        first_event = _activity_block(F, ev, at, as_of, shop, ids, out)
        _affinity_block(ev, ids, out, n_categories)
        _habit_block(F, ev, ids, out)
        _message_block(F, ev, at, as_of, shop, ids, out, first_event)
        _review_block(F, at, shop, ids, out)
    finally:
        ev.unpersist()
    order = ["frequency", "monetary", "avg_order_value", "recency_days", "mean_interpurchase_days", "orders_90d", "revenue_90d",
             "orders_30d", "tenure_days", "events_30d", "n_views", "n_carts", "view_to_order_rate", "discount_share", "price_index",
             "n_categories", "top_categories", "category_shares", "top_brands", "brand_shares", "preferred_channel",
             "preferred_hour", "preferred_dow", "email_sent", "email_open_rate", "email_click_rate", "n_reviews",
             "avg_sentiment", "age", "gender", "country", "first_seen_at", "last_purchase_at"]
    out = out[order]
    for c in out.select_dtypes(include="object").columns:  # missing as pandas has it (NaN), never None
        out[c] = out[c].where(out[c].notna(), np.nan)
    return out


def _orders_block(F: Any, ev: Any, at: Any, as_of: pd.Timestamp, ids: pd.Index, out: pd.DataFrame) -> None:
    """RFM from orders (the purchase lines of one customer at one instant), and price sensitivity."""
    buys = ev.where(F.col("kind") == "purchase")
    orders = buys.groupBy("customer_id", "ts").agg(F.sum("revenue").alias("revenue"))
    d90, d30 = F.lit((as_of - 90 * DAY).to_pydatetime()), F.lit((as_of - 30 * DAY).to_pydatetime())
    o = _pandas(orders.groupBy("customer_id").agg(
        F.count("*").alias("frequency"), F.coalesce(F.sum("revenue"), F.lit(0.0)).alias("monetary"),
        F.min("ts").alias("first_buy"), F.max("ts").alias("last_buy"),
        F.sum(F.when(F.col("ts") > d90, 1).otherwise(0)).alias("orders_90d"),
        F.sum(F.when(F.col("ts") > d90, F.col("revenue")).otherwise(0.0)).alias("revenue_90d"),
        F.sum(F.when(F.col("ts") > d30, 1).otherwise(0)).alias("orders_30d"))).reindex(ids)
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
    unit = F.col("revenue") / F.col("quantity")
    disc = F.when(F.col("list_price").isNotNull() & unit.isNotNull(), (unit < 0.97 * F.col("list_price")).cast("double"))
    rel = unit / F.col("cat_median")
    rel = F.when(F.isnan(rel) | (F.abs(rel) == float("inf")), None).otherwise(rel)
    p = _pandas(buys.groupBy("customer_id").agg(F.avg(disc).alias("discount_share"), F.avg(rel).alias("price_index"))).reindex(ids)
    out["discount_share"] = p["discount_share"].astype(float)
    out["price_index"] = p["price_index"].astype(float)


def _activity_block(F: Any, ev: Any, at: Any, as_of: pd.Timestamp, shop: SparkShop, ids: pd.Index, out: pd.DataFrame) -> pd.Series:
    """Tenure, recent activity and event counts; returns each customer's first-seen time."""
    d30 = F.lit((as_of - 30 * DAY).to_pydatetime())
    shop_ev = F.col("kind") != "message"
    a = _pandas(ev.groupBy("customer_id").agg(
        F.min("ts").alias("first_event"),
        F.sum(F.when(shop_ev & (F.col("ts") > d30), 1).otherwise(0)).alias("events_30d"),
        F.sum(F.when(F.col("kind") == "view", 1).otherwise(0)).alias("n_views"),
        F.sum(F.when(F.col("kind") == "cart", 1).otherwise(0)).alias("n_carts"),
        F.sum(F.when(F.col("event_type").isin(*sorted(EMAIL_SENT_TYPES)), 1).otherwise(0)).alias("sent"),
        F.sum(F.when(F.col("event_type").isin(*sorted(EMAIL_OPEN_TYPES)), 1).otherwise(0)).alias("opens"),
        F.sum(F.when(F.col("event_type").isin(*sorted(EMAIL_CLICK_TYPES)), 1).otherwise(0)).alias("clicks"))).reindex(ids)
    cust = _pandas(shop.customers.groupBy("customer_id").agg(*[F.first(c).alias(c) for c in ("gender", "birth_year", "country", "created_at")]))
    cust = cust.reindex(ids)
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


def _affinity_block(ev: Any, ids: pd.Index, out: pd.DataFrame, n_categories: int) -> None:
    """Category and brand shares of each customer's weighted interactions."""
    cats = _ranked_shares(ev, "category", max(n_categories, TOP_CATEGORIES))
    if cats.empty:
        out["n_categories"] = 0.0
    else:
        out["n_categories"] = cats.groupby("customer_id")["n"].first().reindex(ids).fillna(0).astype(float)
    out["top_categories"] = _lists(cats, ids, TOP_CATEGORIES, as_dict=False)
    out["category_shares"] = _lists(cats, ids, n_categories, as_dict=True)
    brands = _ranked_shares(ev, "brand", max(5, TOP_BRANDS))
    out["top_brands"] = _lists(brands, ids, TOP_BRANDS, as_dict=False)
    out["brand_shares"] = _lists(brands, ids, 5, as_dict=True)


def _habit_block(F: Any, ev: Any, ids: pd.Index, out: pd.DataFrame) -> None:
    """Preferred channel, hour and weekday (Monday = 0) of shop activity."""
    shop_ev = ev.where(F.col("kind") != "message").select("customer_id", "channel", F.hour("ts").alias("hour"),
                                                          F.weekday("ts").alias("dow"))
    out["preferred_channel"] = _pandas(_mode(shop_ev, "channel"))["channel"].reindex(ids)
    out["preferred_hour"] = _pandas(_mode(shop_ev, "hour"))["hour"].reindex(ids)
    out["preferred_dow"] = _pandas(_mode(shop_ev, "dow"))["dow"].reindex(ids)


def _message_block(F: Any, ev: Any, at: Any, as_of: pd.Timestamp, shop: SparkShop, ids: pd.Index, out: pd.DataFrame,
                   first_seen: pd.Series) -> None:
    """Messages received and the open and click rates (send days estimated where only opens are logged)."""
    msgs = _pandas(shop.messages.where(F.col("sent_at") <= at).groupBy("customer_id").count())
    sent = out.pop("_sent").add(msgs["count"].reindex(ids).fillna(0).astype(float), fill_value=0).reindex(ids).fillna(0)
    opens, clicks = out.pop("_opens"), out.pop("_clicks")
    opened = (shop.events.where(F.col("event_type").isin(*sorted(EMAIL_OPEN_TYPES)) & (F.col("ts") <= at))
              .groupBy(F.date_trunc("day", "ts").alias("day")).count())
    daily_frame = _pandas(opened, index="day") if (sent == 0).any() else pd.DataFrame()
    if len(daily_frame):
        sent = sent.where(sent > 0, send_days_since(daily_frame["count"], first_seen, as_of))
    out["email_sent"] = sent.astype(float)
    out["email_open_rate"] = (opens / sent).clip(upper=1.0).where(sent > 0)
    out["email_click_rate"] = (clicks / sent).clip(upper=1.0).where(sent > 0)


def _review_block(F: Any, at: Any, shop: SparkShop, ids: pd.Index, out: pd.DataFrame) -> None:
    """Review counts and mean sentiment (the model's when present, else the rating), then demographics."""
    rv = shop.reviews.where(F.col("ts").isNull() | (F.col("ts") <= at))
    rv = only_customers(rv, ids)
    lo_hi = rv.agg(F.min("sentiment").alias("lo"), F.max("sentiment").alias("hi"), F.count("sentiment").alias("n")).first()
    sent = F.col("sentiment")
    if lo_hi["n"] and lo_hi["lo"] >= 0.0 and lo_hi["hi"] <= 1.0:
        sent = 2 * sent - 1
    score = F.coalesce(sent, (F.col("rating") - 3.0) / 2.0)
    score = F.when(score < -1, -1.0).when(score > 1, 1.0).otherwise(score)
    r = _pandas(rv.groupBy("customer_id").agg(F.count("*").alias("n"), F.avg(score).alias("avg"))).reindex(ids)
    out["n_reviews"] = r["n"].fillna(0).astype(float)
    out["avg_sentiment"] = r["avg"].astype(float)
    out["age"] = out.pop("_age")
    out["gender"], out["country"] = out.pop("_gender"), out.pop("_country")
    out["first_seen_at"] = out.pop("_first_seen")
    out["last_purchase_at"] = out.pop("_last_buy")
