"""The playbook: for each customer of a group, the offer and the items a strategy picks.

- ``coupon``: a personal discount code for frequent buyers, with their top recommendations;
- ``new_arrivals``: the newest in-stock products, preferring the customer's favourite category;
- ``recommendations``: personalized picks (welcome series for new customers);
- ``winback``: a larger discount and picks for customers at risk of churning;
- ``cross_sell``: items frequently bought with the customer's last purchase;
- ``cart_abandonment``: the items left in the cart.

A strategy that needs a model which is missing falls back to bestsellers and says so in ``notes``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from persona.campaigns.spec import CampaignSpec, Group

log = logging.getLogger(__name__)

DEFAULT_DISCOUNT = {"coupon": 10, "winback": 20}


@dataclass
class StrategyContext:
    """What strategies draw on, loaded once per plan."""

    spec: CampaignSpec
    products: pd.DataFrame  # indexed by product_id: title, price, category, in_stock, created_at
    bestsellers: list[str]
    new_arrivals: list[str]
    favourite_category: dict[str, str] = field(default_factory=dict)
    last_purchase: dict[str, str] = field(default_factory=dict)
    cart_items: dict[str, list[str]] = field(default_factory=dict)
    recommender: Any | None = None
    related: Callable[[str, int], list[str]] | None = None  # frequently bought together
    #: stored side data of customers the recommender was not trained on (see ``new_customer_features``)
    customer_features: Callable[[list[str]], pd.DataFrame | None] | None = None
    code_for: Callable[[str], str] = lambda cid: cid
    notes: list[str] = field(default_factory=list)
    product_url: str = "{base_url}/p/{product_id}"

    def __post_init__(self) -> None:
        """Index what messages show of each product once, so that picking items is a dict lookup."""
        p = self.products
        attributes = p["attributes"] if "attributes" in p.columns else [None] * len(p)
        #: product_id -> (title, price, image_url) as a message shows them
        self._shown: dict[str, tuple[str, float | None, Any]] = {
            pid: (title if isinstance(title, str) else pid, float(price) if pd.notna(price) else None,
                  attrs.get("image_url") if isinstance(attrs, dict) else None)
            for pid, title, price, attrs in zip(p.index, p["title"], p["price"], attributes, strict=True)
        }

    def item(self, pid: str, reason: str) -> dict[str, Any]:
        """A message's item: the product's title, price, link and image (its id alone when unknown)."""
        title, price, image_url = self._shown.get(pid, (pid, None, None))
        return {
            "product_id": pid,
            "title": title,
            "price": price,
            "url": self.product_url.format(base_url=self.spec.base_url.rstrip("/"), product_id=pid),
            "image_url": image_url,
            "reason": reason,
        }

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)
            log.warning("campaign=%s %s", self.spec.name, text)


def _recommend(ctx: StrategyContext, cids: list[str], k: int, include_seen: bool = False) -> dict[str, list[tuple[str, str]]]:
    if k == 0:
        return {c: [] for c in cids}
    out: dict[str, list[tuple[str, str]]] = {c: [] for c in cids}
    if ctx.recommender is not None:
        try:
            features = ctx.customer_features(cids) if ctx.customer_features is not None else None
            recs = ctx.recommender.recommend(cids, k=k, exclude_seen=not include_seen,
                                             filters={"in_stock_only": True, "exclude_purchased": include_seen},
                                             user_features=features)
            for cid, pid, reason in zip(recs["user_id"], recs["item_id"], recs["reason"], strict=True):
                out[str(cid)].append((str(pid), str(reason)))
        except Exception as exc:  # noqa: BLE001 - a broken model must not stop the campaign
            ctx.note(f"recommender failed ({exc}); used bestsellers")
    else:
        ctx.note("no trained recommender: used bestsellers (run `persona recommend train` for personal picks)")
    for cid in cids:
        if len(out[cid]) < k:
            have = {p for p, _ in out[cid]}
            out[cid] += [(p, "a bestseller") for p in ctx.bestsellers if p not in have][: k - len(out[cid])]
    return out


def _offer(ctx: StrategyContext, group: Group, strategy: str, cid: str) -> dict[str, Any]:
    if strategy not in DEFAULT_DISCOUNT and "discount_pct" not in group.offer:
        return {"type": "none", "discount_pct": None, "code": None, "expires": None, **group.offer}
    pct = group.offer.get("discount_pct", DEFAULT_DISCOUNT.get(strategy, 10))
    days = int(group.offer.get("valid_days", 14))
    return {
        "type": "coupon",
        "discount_pct": pct,
        "code": group.offer.get("code_prefix", strategy.upper()[:6]) + "-" + ctx.code_for(cid),
        "expires": (datetime.now(UTC) + timedelta(days=days)).date().isoformat(),
        **{k: v for k, v in group.offer.items() if k not in ("discount_pct", "code_prefix", "valid_days")},
    }


def _new_arrivals(ctx: StrategyContext, fav: str | None, k: int) -> list[tuple[str, str]]:
    """The ``k`` newest products, those of the favourite category ``fav`` first, each with its reason."""
    category = ctx.products.loc[ctx.new_arrivals, "category"].tolist()
    pool = list(zip(ctx.new_arrivals, category, strict=True))
    if fav is not None:
        pool = [pc for pc in pool if pc[1] == fav] + [pc for pc in pool if pc[1] != fav]
    return [(p, f"new in {c}" if pd.notna(c) else "new") for p, c in pool[:k]]


def plan_group(members: pd.DataFrame, group: Group, ctx: StrategyContext) -> list[dict[str, Any]]:
    """Offer and items for every customer of one group."""
    cids = [str(c) for c in members["customer_id"]]
    k = group.items
    s = group.strategy
    picks: dict[str, list[tuple[str, str]]]
    if s in ("coupon", "winback", "recommendations"):
        picks = _recommend(ctx, cids, k, group.include_seen)
    elif s == "new_arrivals":
        picks = {}
        by_fav: dict[str | None, list[tuple[str, str]]] = {}  # the picks depend only on the favourite category
        for cid in cids:
            fav = ctx.favourite_category.get(cid)
            if fav not in by_fav:
                by_fav[fav] = _new_arrivals(ctx, fav, k)
            picks[cid] = by_fav[fav]
    elif s == "cross_sell":
        picks = {}
        if ctx.related is None:
            ctx.note("no basket rules: cross-sell used bestsellers (run `persona basket rules`)")
        for cid in cids:
            last = ctx.last_purchase.get(cid)
            rel = ctx.related(last, k) if (ctx.related and last) else []
            title = ctx.item(last, "")["title"] if last else ""
            picks[cid] = [(p, f"often bought with {title}") for p in rel if p != last][:k]
            if len(picks[cid]) < k:
                have = {p for p, _ in picks[cid]} | {last}
                picks[cid] += [(p, "a bestseller") for p in ctx.bestsellers if p not in have][: k - len(picks[cid])]
    elif s == "cart_abandonment":
        picks = {cid: [(p, "still in your cart") for p in ctx.cart_items.get(cid, [])[: max(k, 1)]] for cid in cids}
    else:  # pragma: no cover - the spec's Literal forbids it
        raise ValueError(s)
    plans = []
    for cid in cids:
        plans.append(
            {
                "customer_id": cid,
                "strategy": s,
                "group": group.name,
                "template": group.template,
                "offer": _offer(ctx, group, s, cid),
                "items": [ctx.item(p, r) for p, r in picks.get(cid, [])],
            }
        )
    return plans


# --- expected value, for the budget optimizer --------------------------------------------------------
# Conservative priors for the incremental conversion rate a message of each strategy causes, used when no
# uplift model has scored the customer (prediction name ``uplift``).
UPLIFT_PRIOR = {
    "coupon": 0.030,
    "new_arrivals": 0.010,
    "recommendations": 0.015,
    "winback": 0.025,
    "cross_sell": 0.020,
    "cart_abandonment": 0.060,
}
