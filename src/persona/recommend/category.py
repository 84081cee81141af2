"""Category affinity: the best-sellers of the categories each customer shops, their recent ones first.

Shops with large, fast-changing catalogues (tens of thousands of products, a handful of events each) give
item-item and factor models too little co-occurrence to go on, while a customer's *categories* are stable:
on the Taobao log two thirds of a customer's next items lie in a category they already browsed. The model
factorises P(item | customer) = P(category | customer) · P(item | category):

* P(category | customer): the customer's event weights per category, older events decayed
  (an event with r more recent events of the same customer weighs exp(−r / (τ · n)), n the customer's
  events), smoothed towards the shop-wide category mix by ``prior`` pseudo-events;
* P(item | category): the item's distinct customers + 1 over its category's total (Laplace-smoothed),
  so the category's best-sellers lead and a new product still has a small chance.

The score is the log of that product. Needs an item ``category`` (products without one share a group); any
other item column works the same way (``column="brand"``: the best-sellers of the brands a customer buys).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from persona.data import Interactions
from persona.errors import InputError
from persona.recommend.base import Recommender

NO_CATEGORY = "(no category)"


def has_categories(data: Interactions, column: str = "category") -> bool:
    """Whether the items carry at least two distinct values of ``column`` (one value ranks like plain popularity)."""
    return column in data.items.columns and data.items[column].nunique(dropna=True) >= 2


def recency_weights(user_idx: np.ndarray, time: np.ndarray | None, tau: float | None) -> np.ndarray:
    """Per-event weights exp(−r / (τ · n)): r = the user's events after this one, n = the user's events.

    Without times or with ``tau`` None every event weighs 1. Ties in time keep log order. The per-event
    counterpart of the hybrid's :func:`~persona.recommend.hybrid.recency_ranks` (per distinct item): a
    category viewed again lately should count again.
    """
    n_ev = len(user_idx)
    if time is None or tau is None or n_ev == 0:
        return np.ones(n_ev)
    t = np.nan_to_num(np.asarray(time, dtype=np.float64), nan=-np.inf)
    order = np.lexsort((np.arange(n_ev), t, user_idx))
    u_sorted = user_idx[order]
    counts = np.bincount(u_sorted)
    starts = np.cumsum(counts) - counts
    pos = np.arange(n_ev) - starts[u_sorted]  # 0 = the user's oldest event
    n_u = counts[u_sorted]
    w = np.empty(n_ev)
    w[order] = np.exp(-(n_u - 1 - pos) / (float(tau) * n_u))
    return w


class CategoryRecommender(Recommender):
    """Best-sellers of each customer's categories, weighted by how much (and how lately) they shop each.

    Args:
        recency_tau: decay of older events in a customer's category affinity (the share of their history
            over which weight falls by e); ``None`` weighs every event alike.
        prior: pseudo-events pulling a customer's category mix towards the shop's (customers with one
            event still see other categories' best-sellers below their own).
        column: the item column that groups products (``category``; ``brand`` for brand affinity).
    """

    name: ClassVar[str] = "category"
    explains_by_history: ClassVar[bool] = False

    def __init__(self, recency_tau: float | None = 0.25, prior: float = 1.0, column: str = "category"):
        self.recency_tau = recency_tau
        self.prior = prior
        self.column = column

    @property
    def default_reason(self) -> str:  # type: ignore[override]
        return f"popular in a {self.column} you shop"

    @property
    def similar_reason(self) -> str:  # type: ignore[override]
        return f"popular in the same {self.column} as {{item}}"

    def _validate_params(self) -> None:
        tau = self.recency_tau
        if tau is not None and (isinstance(tau, bool) or not isinstance(tau, int | float) or tau <= 0):
            raise InputError(f"category recency_tau must be a positive number or None, got {tau!r}")
        if isinstance(self.prior, bool) or not isinstance(self.prior, int | float) or self.prior <= 0:
            raise InputError(f"category prior must be a positive number, got {self.prior!r}")
        if not isinstance(self.column, str) or not self.column:
            raise InputError(f"category column must name an item column, got {self.column!r}")

    def unfit_reason(self, data: Interactions) -> str | None:
        return None if has_categories(data, self.column) else f"needs at least two distinct product {self.column} values"

    def _fit(self, data: Interactions) -> None:
        col = self.column
        if col not in data.items.columns or data.items[col].isna().all():
            known = [c for c in data.items.columns if c not in ("title", "description", "price", "in_stock")
                     and data.items[c].notna().any()]
            raise InputError(
                f"the category recommender needs a product {col!r} and none is known",
                hint=f"ingest products with a {col!r} column (or pass items= with one to Interactions.from_frame)"
                     + (f"; item columns with values here: {known}" if known else ""),
            )
        cats = data.items[col].astype("object").where(data.items[col].notna(), NO_CATEGORY)
        codes, names = pd.factorize(cats.astype(str).to_numpy())
        self.item_category_ = codes.astype(np.int64)
        self.category_names_ = [str(n) for n in names]
        n_cat = len(names)

        users_per_item = data.item_popularity().astype(np.float64)
        cat_total = np.bincount(codes, weights=users_per_item, minlength=n_cat)
        cat_size = np.bincount(codes, minlength=n_cat).astype(np.float64)
        self.item_log_share_ = np.log((users_per_item + 1.0) / (cat_total[codes] + cat_size[codes])).astype(np.float32)

        lg = data.log
        u = lg["user_idx"].to_numpy().astype(np.int64)
        c = self.item_category_[lg["item_idx"].to_numpy().astype(np.int64)]
        t = pd.to_numeric(lg["time"], errors="coerce").to_numpy(np.float64) if data.has_time else None
        w = recency_weights(u, t, self.recency_tau)
        if "weight" in lg.columns:
            w = w * np.clip(lg["weight"].to_numpy(np.float64), 0.0, None)
        self.affinity_ = sp.csr_matrix((w, (u, c)), shape=(data.n_users, n_cat))  # duplicates summed
        mix = np.bincount(c, weights=w, minlength=n_cat) + 1e-9
        self.category_mix_ = mix / mix.sum()

    def category_shares(self, user_idx: np.ndarray) -> np.ndarray:
        """P(category | customer) for the given user indices (rows sum to 1)."""
        self._check_fitted()
        a = self.affinity_[np.asarray(user_idx, dtype=np.int64)].toarray()
        prior = float(self.prior)
        return (a + prior * self.category_mix_[None, :]) / (a.sum(axis=1, keepdims=True) + prior)

    def score(self, user_idx: np.ndarray) -> np.ndarray:
        return self._scores(self.category_shares(user_idx))

    def fold_in_scores(self, items: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Scores over every item for a history not seen in training (item columns and their event weights).

        The history's weights per category stand in for the fitted affinity (no recency: a served history
        carries no order), so a customer's new events move their categories at once, without a refit.
        """
        self._check_fitted()
        a = np.bincount(self.item_category_[np.asarray(items, dtype=np.int64)],
                        weights=np.asarray(weights, dtype=np.float64), minlength=len(self.category_names_))
        prior = float(self.prior)
        return self._scores(((a + prior * self.category_mix_) / (a.sum() + prior))[None, :])[0]

    def _scores(self, shares: np.ndarray) -> np.ndarray:
        return np.log(shares).astype(np.float32)[:, self.item_category_] + self.item_log_share_[None, :]

    def _item_similarity(self, item_idx: np.ndarray) -> np.ndarray:
        # same category: the category's best-sellers first (scores in (0, 1]); other categories: 0
        idx = np.asarray(item_idx, dtype=np.int64)
        share = np.exp(self.item_log_share_).astype(np.float32)
        same = self.item_category_[idx][:, None] == self.item_category_[None, :]
        return np.where(same, share[None, :] / max(float(share.max()), 1e-12), 0.0).astype(np.float32)

    def _explain_block(self, uidx: np.ndarray, rows: list[np.ndarray]) -> list[list[str]]:
        out = []
        for items in rows:
            cats = self.item_category_[np.asarray(items, dtype=np.int64)]
            out.append([f"popular in {self.category_names_[c]}, a {self.column} you shop" for c in cats])
        return out
