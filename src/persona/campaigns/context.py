"""Loads what strategies need from the store: catalogue, bestsellers, last purchases, carts, models."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from persona.campaigns.spec import CampaignSpec
from persona.campaigns.strategies import StrategyContext

log = logging.getLogger(__name__)


def _load_recommender(store: Any) -> Any | None:
    try:
        from persona.registry import load as load_model
    except ImportError:
        return None
    for name in ("recommender", "hybrid"):
        try:
            return load_model(store, name)
        except Exception:  # noqa: BLE001 - no such model yet
            continue
    return None


def _load_related(store: Any) -> Any | None:
    """``(product_id, k) -> [product ids]`` from the registered basket rules, or None when none were mined."""
    from persona.registry import load as load_model

    try:
        rules = load_model(store, "basket_rules")
    except Exception:  # noqa: BLE001 - no rules mined yet
        return None
    return lambda pid, k: [str(p) for p in rules.frequently_bought_together(pid, k)["product_id"]]


def build_context(store: Any, spec: CampaignSpec, code_for: Any, *, now: datetime | None = None, recommender: Any = None) -> StrategyContext:
    """Everything the strategies of ``spec`` may need, read once."""
    now = now or datetime.now(UTC)
    products = store.read_frame("SELECT product_id, title, category, price, in_stock, created_at, attributes FROM products")
    products = products.set_index("product_id")
    in_stock = products[products["in_stock"].astype("boolean").fillna(True).astype(bool)]  # unknown: in stock
    since = now - timedelta(days=30)
    top = store.read_frame(
        "SELECT product_id, COUNT(*) AS n FROM events WHERE event_type = 'purchase' AND product_id IS NOT NULL "
        "AND ts >= :since GROUP BY product_id ORDER BY n DESC LIMIT 200",
        {"since": since},
    )
    if top.empty:
        top = store.read_frame(
            "SELECT product_id, COUNT(*) AS n FROM events WHERE product_id IS NOT NULL GROUP BY product_id ORDER BY n DESC LIMIT 200"
        )
    bestsellers = [p for p in top["product_id"] if p in in_stock.index] or list(in_stock.index[:50])
    created = pd.to_datetime(in_stock["created_at"], utc=True, errors="coerce")
    new_arrivals = list(created.sort_values(ascending=False, na_position="last").index[:200])
    strategies = {g.strategy for g in spec.groups}
    ctx = StrategyContext(
        spec=spec,
        products=products,
        bestsellers=bestsellers,
        new_arrivals=new_arrivals,
        code_for=code_for,
    )
    if "new_arrivals" in strategies:
        fav = store.read_frame(
            "SELECT e.customer_id, p.category, COUNT(*) AS n FROM events e JOIN products p ON p.product_id = e.product_id "
            "WHERE e.event_type = 'purchase' AND p.category IS NOT NULL GROUP BY e.customer_id, p.category"
        )
        if len(fav):
            fav = fav.sort_values(["customer_id", "n"], ascending=[True, False]).drop_duplicates("customer_id")
            ctx.favourite_category = dict(zip(fav["customer_id"], fav["category"], strict=True))
    if "cross_sell" in strategies:
        last = store.read_frame(
            "SELECT customer_id, product_id, ts FROM events WHERE event_type = 'purchase' AND product_id IS NOT NULL"
        )
        if len(last):
            last = last.sort_values("ts").drop_duplicates("customer_id", keep="last")
            ctx.last_purchase = dict(zip(last["customer_id"], last["product_id"], strict=True))
        ctx.related = _load_related(store)
    if "cart_abandonment" in strategies:
        ctx.cart_items = abandoned_carts(store, now=now, older_than_hours=spec.schedule.delay_hours)
    if strategies & {"coupon", "winback", "recommendations"}:
        ctx.recommender = recommender if recommender is not None else _load_recommender(store)
        if ctx.recommender is not None:
            from persona.recommend.coldstart import new_customer_features

            ctx.customer_features = lambda cids: new_customer_features(store, ctx.recommender, cids)
    return ctx


def abandoned_carts(store: Any, *, now: datetime, older_than_hours: float, lookback_days: float = 7) -> dict[str, list[str]]:
    """Items added to a cart more than ``older_than_hours`` ago and neither bought nor removed since."""
    ev = store.read_frame(
        "SELECT customer_id, product_id, event_type, ts FROM events WHERE event_type IN "
        "('add_to_cart', 'remove_from_cart', 'purchase') AND product_id IS NOT NULL AND ts >= :since",
        {"since": now - timedelta(days=lookback_days)},
    )
    if ev.empty:
        return {}
    ev["ts"] = pd.to_datetime(ev["ts"], utc=True)
    last = ev.sort_values("ts").groupby(["customer_id", "product_id"]).tail(1)
    cutoff = pd.Timestamp(now) - pd.Timedelta(hours=older_than_hours)
    left = last[(last["event_type"] == "add_to_cart") & (last["ts"] <= cutoff)]
    return {cid: list(g.sort_values("ts", ascending=False)["product_id"]) for cid, g in left.groupby("customer_id")}
