"""Per-customer features as of a point in time, computed only from what happened up to then.

Every function here takes ``as_of`` and ignores later rows, so the same code builds today's profiles
and the point-in-time features of a backtest cutoff (no look-ahead).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from persona.profiles.source import (
    AFFINITY_WEIGHTS,
    EMAIL_CLICK_TYPES,
    EMAIL_OPEN_TYPES,
    EMAIL_SENT_TYPES,
    ShopData,
    event_kind,
)

DAY = pd.Timedelta(days=1)
TOP_CATEGORIES = 3
TOP_BRANDS = 3

NUMERIC_FEATURES: tuple[str, ...] = (
    "recency_days",
    "frequency",
    "monetary",
    "avg_order_value",
    "tenure_days",
    "mean_interpurchase_days",
    "orders_30d",
    "orders_90d",
    "revenue_90d",
    "events_30d",
    "n_views",
    "n_carts",
    "view_to_order_rate",
    "discount_share",
    "price_index",
    "n_categories",
    "email_sent",
    "email_open_rate",
    "email_click_rate",
    "n_reviews",
    "avg_sentiment",
    "age",
)
"""Numeric features every profile has (NaN where undefined, e.g. recency of a non-buyer)."""


def _mode(df: pd.DataFrame, key: str, value: str) -> pd.Series:
    """The most frequent ``value`` per ``key`` (ties broken by the smaller value, deterministic)."""
    d = df[[key, value]].dropna()
    if d.empty:
        return pd.Series(dtype=object)
    counts = d.groupby([key, value], observed=True).size().rename("n").reset_index()
    counts = counts.sort_values([key, "n", value], ascending=[True, False, True], kind="stable")
    return counts.drop_duplicates(key).set_index(key)[value]


def _shares(df: pd.DataFrame, key: str, col: str, weight: str) -> pd.DataFrame:
    d = df[[key, col, weight]].dropna(subset=[col])
    if d.empty:
        return pd.DataFrame()
    w = d.groupby([key, col], observed=True)[weight].sum().unstack(fill_value=0.0)
    return w.div(w.sum(axis=1).replace(0, np.nan), axis=0).fillna(0.0)


def _top(shares: pd.DataFrame, n: int) -> pd.Series:
    """Top-``n`` column names per row by share (shares > 0 only), as lists."""
    if shares.empty:
        return pd.Series(dtype=object)
    vals = shares.to_numpy()
    order = np.argsort(-vals, axis=1, kind="stable")[:, :n]
    cols = shares.columns.to_numpy()
    out = [[str(cols[j]) for j in row if vals[i, j] > 0] for i, row in enumerate(order)]
    return pd.Series(out, index=shares.index, dtype=object)


def _share_dicts(shares: pd.DataFrame, n: int) -> pd.Series:
    """The ``n`` largest shares per row as {name: share} (rounded), for the profile JSON."""
    if shares.empty:
        return pd.Series(dtype=object)
    vals = shares.to_numpy()
    order = np.argsort(-vals, axis=1, kind="stable")[:, :n]
    cols = shares.columns.to_numpy()
    out = [{str(cols[j]): round(float(vals[i, j]), 4) for j in row if vals[i, j] > 0} for i, row in enumerate(order)]
    return pd.Series(out, index=shares.index, dtype=object)


def population(data: ShopData, as_of: pd.Timestamp) -> pd.Index:
    """Customers known at ``as_of``: created by then or with an event by then."""
    ids = set(data.events.loc[data.events["ts"] <= as_of, "customer_id"])
    created = data.customers["created_at"]
    ids |= set(data.customers.loc[created.isna() | (created <= as_of), "customer_id"])
    return pd.Index(sorted(ids), name="customer_id")


def compute_features(
    data: ShopData, as_of: pd.Timestamp, customer_ids: pd.Index | None = None, *, n_categories: int = 12
) -> pd.DataFrame:
    """Profile features of each customer from everything up to and including ``as_of``.

    Args:
        data: the shop frames.
        as_of: point in time (UTC); later rows are ignored.
        customer_ids: customers to describe (default: everyone known at ``as_of``).
        n_categories: length of the category-share dictionary kept per customer.

    Returns:
        A frame indexed by ``customer_id`` with :data:`NUMERIC_FEATURES` plus descriptive columns
        (``top_categories``, ``category_shares``, ``top_brands``, ``brand_shares``, ``preferred_channel``,
        ``preferred_hour``, ``preferred_dow``, ``gender``, ``country``, ``first_seen_at``, ``last_purchase_at``).
    """
    as_of = pd.Timestamp(as_of)
    as_of = as_of.tz_localize("UTC") if as_of.tzinfo is None else as_of.tz_convert("UTC")
    ids = population(data, as_of) if customer_ids is None else pd.Index(customer_ids, name="customer_id")
    out = pd.DataFrame(index=ids)

    ev = data.events[(data.events["ts"] <= as_of) & data.events["customer_id"].isin(ids)].copy()
    ev["kind"] = event_kind(ev["event_type"])
    prod = data.products.drop_duplicates("product_id").set_index("product_id")
    ev["category"] = ev["product_id"].map(prod["category"])
    ev["brand"] = ev["product_id"].map(prod["brand"])
    ev["list_price"] = pd.to_numeric(ev["product_id"].map(prod["price"]), errors="coerce")

    # --- orders: purchase lines at the same instant form one order --------------------------------
    buys = ev[ev["kind"] == "purchase"]
    orders = buys.groupby(["customer_id", "ts"], observed=True)["revenue"].sum().rename("revenue").reset_index()
    g = orders.groupby("customer_id")
    first_buy, last_buy = g["ts"].min(), g["ts"].max()
    out["frequency"] = g.size().reindex(ids).fillna(0).astype(float)
    out["monetary"] = g["revenue"].sum().reindex(ids).fillna(0.0)
    out["avg_order_value"] = (out["monetary"] / out["frequency"]).where(out["frequency"] > 0)
    out["recency_days"] = ((as_of - last_buy) / DAY).reindex(ids)
    span = ((last_buy - first_buy) / DAY).reindex(ids)
    out["mean_interpurchase_days"] = (span / (out["frequency"] - 1)).where(out["frequency"] > 1)
    recent = orders[orders["ts"] > as_of - 90 * DAY].groupby("customer_id")
    out["orders_90d"] = recent.size().reindex(ids).fillna(0).astype(float)
    out["revenue_90d"] = recent["revenue"].sum().reindex(ids).fillna(0.0)
    out["orders_30d"] = orders[orders["ts"] > as_of - 30 * DAY].groupby("customer_id").size().reindex(ids).fillna(0).astype(float)

    # --- tenure and activity ---------------------------------------------------------------------
    cust = data.customers.drop_duplicates("customer_id").set_index("customer_id").reindex(ids)
    first_event = ev.groupby("customer_id")["ts"].min().reindex(ids)
    first_seen = pd.concat([cust["created_at"].where(cust["created_at"] <= as_of), first_event], axis=1).min(axis=1)
    out["tenure_days"] = ((as_of - first_seen) / DAY).clip(lower=0)
    shop_events = ev[ev["kind"] != "message"]
    out["events_30d"] = shop_events[shop_events["ts"] > as_of - 30 * DAY].groupby("customer_id").size().reindex(ids).fillna(0).astype(float)
    counts = ev.groupby(["customer_id", "kind"]).size().unstack(fill_value=0).reindex(ids).fillna(0)
    out["n_views"] = counts.get("view", pd.Series(0.0, index=ids)).astype(float)
    out["n_carts"] = counts.get("cart", pd.Series(0.0, index=ids)).astype(float)
    out["view_to_order_rate"] = (out["frequency"] / out["n_views"]).where(out["n_views"] > 0)

    # --- price sensitivity: discounted lines and price paid vs the category's median price -------
    unit = buys["revenue"] / buys["quantity"]
    discounted = (unit < 0.97 * buys["list_price"]).astype(float).where(buys["list_price"].notna() & unit.notna())
    out["discount_share"] = discounted.groupby(buys["customer_id"]).mean().reindex(ids)
    cat_median = pd.to_numeric(data.products["price"], errors="coerce").groupby(data.products["category"]).median()
    rel = unit / buys["category"].map(cat_median)
    out["price_index"] = rel.replace([np.inf, -np.inf], np.nan).groupby(buys["customer_id"]).mean().reindex(ids)

    # --- category and brand affinity -------------------------------------------------------------
    ev["w"] = ev["kind"].map(AFFINITY_WEIGHTS).fillna(0.0)
    cat_sh = _shares(ev[ev["w"] > 0], "customer_id", "category", "w")
    out["n_categories"] = (cat_sh > 0).sum(axis=1).reindex(ids).fillna(0).astype(float) if not cat_sh.empty else 0.0
    out["top_categories"] = _top(cat_sh, TOP_CATEGORIES).reindex(ids)
    out["category_shares"] = _share_dicts(cat_sh, n_categories).reindex(ids)
    br_sh = _shares(ev[ev["w"] > 0], "customer_id", "brand", "w")
    out["top_brands"] = _top(br_sh, TOP_BRANDS).reindex(ids)
    out["brand_shares"] = _share_dicts(br_sh, 5).reindex(ids)

    # --- channel and time preferences (shop activity, not message events) ------------------------
    out["preferred_channel"] = _mode(shop_events, "customer_id", "channel").reindex(ids)
    timing = shop_events[["customer_id"]].assign(hour=shop_events["ts"].dt.hour, dow=shop_events["ts"].dt.dayofweek)
    out["preferred_hour"] = _mode(timing, "customer_id", "hour").reindex(ids)
    out["preferred_dow"] = _mode(timing, "customer_id", "dow").reindex(ids)

    # --- engagement with messages ----------------------------------------------------------------
    sent = ev[ev["event_type"].isin(EMAIL_SENT_TYPES)].groupby("customer_id").size()
    msgs = data.messages[data.messages["sent_at"] <= as_of].groupby("customer_id").size()
    sent = sent.add(msgs, fill_value=0).reindex(ids).fillna(0)
    opens = ev[ev["event_type"].isin(EMAIL_OPEN_TYPES)].groupby("customer_id").size().reindex(ids).fillna(0)
    clicks = ev[ev["event_type"].isin(EMAIL_CLICK_TYPES)].groupby("customer_id").size().reindex(ids).fillna(0)
    # Shops that log opens but not sends: the denominator is the number of the shop's send days since
    # the customer arrived, a send day being a day with at least a quarter of a typical busy day's opens
    # (the 90th percentile of daily opens); late opens trickling in on other days do not count.
    opened = data.events.loc[data.events["event_type"].isin(EMAIL_OPEN_TYPES) & (data.events["ts"] <= as_of), "ts"]
    if len(opened) and (sent == 0).any():
        sent = sent.where(sent > 0, send_days_since(opened.dt.floor("D").value_counts(), first_seen, as_of))
    out["email_sent"] = sent.astype(float)
    out["email_open_rate"] = (opens / sent).clip(upper=1.0).where(sent > 0)
    out["email_click_rate"] = (clicks / sent).clip(upper=1.0).where(sent > 0)

    # --- reviews: the text stage's sentiment when present, else the star rating -----------------
    rv = data.reviews[(data.reviews["ts"].isna() | (data.reviews["ts"] <= as_of)) & data.reviews["customer_id"].isin(ids)]
    out["n_reviews"] = rv.groupby("customer_id").size().reindex(ids).fillna(0).astype(float)
    out["avg_sentiment"] = review_score(rv).groupby(rv["customer_id"]).mean().reindex(ids)

    # --- demographics (never PII) ----------------------------------------------------------------
    birth = pd.to_numeric(cust["birth_year"], errors="coerce")
    out["age"] = (as_of.year - birth).where((birth > 1900) & (birth <= as_of.year))
    out["gender"] = cust["gender"]
    out["country"] = cust["country"]
    out["first_seen_at"] = first_seen
    out["last_purchase_at"] = last_buy.reindex(ids)
    return out


def send_days_since(daily_opens: pd.Series, first_seen: pd.Series, as_of: pd.Timestamp) -> pd.Series:
    """Per customer, the shop's send days since they arrived, for shops that log opens but not sends.

    Args:
        daily_opens: the number of opens per (UTC) day, indexed by day.
        first_seen: each customer's first-seen time (NaT: after ``as_of``, so no send day).
        as_of: the point in time of the profiles.

    Returns:
        Float counts indexed like ``first_seen``: a send day has at least a quarter of a busy day's opens
        (the 90th percentile of daily opens), so late opens trickling in on other days do not count.
    """
    days = pd.DatetimeIndex(daily_opens.index[daily_opens >= 0.25 * daily_opens.quantile(0.9)]).sort_values()
    est = len(days) - days.searchsorted(first_seen.dt.floor("D").fillna(as_of + DAY))
    return pd.Series(est, index=first_seen.index).astype(float)


def review_score(reviews: pd.DataFrame) -> pd.Series:
    """One score per review in [-1, 1]: the model's sentiment when filled, else (rating − 3) / 2.

    A sentiment column holding probabilities (all values in [0, 1]) is rescaled to 2p − 1.
    """
    sent = pd.to_numeric(reviews["sentiment"], errors="coerce")
    if sent.notna().any() and sent.min() >= 0.0 and sent.max() <= 1.0:
        sent = 2 * sent - 1
    rating = (pd.to_numeric(reviews["rating"], errors="coerce") - 3.0) / 2.0
    return sent.fillna(rating).clip(-1, 1)


def refresh_time_features(profiles: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """Recompute recency and tenure against one ``as_of`` (profiles built at different times)."""
    p = profiles.copy()
    as_of = pd.Timestamp(as_of)
    as_of = as_of.tz_localize("UTC") if as_of.tzinfo is None else as_of.tz_convert("UTC")
    if "last_purchase_at" in p:
        p["recency_days"] = (as_of - pd.to_datetime(p["last_purchase_at"], utc=True, format="mixed")) / DAY
    if "first_seen_at" in p:
        p["tenure_days"] = ((as_of - pd.to_datetime(p["first_seen_at"], utc=True, format="mixed")) / DAY).clip(lower=0)
    return p
