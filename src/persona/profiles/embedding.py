"""The learned customer embedding: the customer's own vector fused with what they interacted with.

``z = x + α·y`` where

* **x** is the customer's own vector and **y** the weighted mean vector of the items the customer
  interacted with (weights: purchase 3, cart 2, view 1), both in one space;
* with a fitted recommender exposing ``user_factors_`` / ``item_factors_``, that space is the
  recommender's latent space: x is the user's factor row, y the mean factor row of their items;
* otherwise it is a joint content space ``[own features | item features]``: x holds the customer's
  standardized behaviour and demographics (item coordinates zero), y the mean item features
  (one-hot category and brand, standardized log price; customer coordinates zero). A PCA fitted once
  projects z to ``dim`` coordinates; the projection is linear, so the stored vector is still
  ``P·x + α·P·y`` (centred).

``α`` (default 0.5) sets how much "what you touch" counts against "who you are".
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA

from persona.errors import InputError, NotFittedError
from persona.profiles.source import ShopData

OWN_FEATURES = (
    "recency_days",
    "frequency",
    "monetary",
    "avg_order_value",
    "tenure_days",
    "mean_interpurchase_days",
    "discount_share",
    "price_index",
    "email_open_rate",
    "email_click_rate",
    "avg_sentiment",
    "age",
)
LOG_FEATURES = frozenset({"frequency", "monetary", "avg_order_value", "recency_days", "tenure_days", "mean_interpurchase_days"})


def _factor_maps(recommender: Any) -> tuple[list[str], np.ndarray, list[str], np.ndarray] | None:
    """(user ids, user factors, item ids, item factors) of a recommender, when it exposes them."""
    if recommender is None:
        return None
    u = getattr(recommender, "user_factors_", None)
    v = getattr(recommender, "item_factors_", None)
    if u is None or v is None:
        return None
    u, v = np.asarray(u, dtype=float), np.asarray(v, dtype=float)
    holders = [recommender, *(getattr(recommender, a, None) for a in ("data_", "interactions_", "dataset_"))]
    for h in holders:
        if h is None:
            continue
        for un, iname in (("user_ids_", "item_ids_"), ("user_ids", "item_ids"), ("users_", "items_")):
            users, items = getattr(h, un, None), getattr(h, iname, None)
            if users is not None and items is not None and len(users) == len(u) and len(items) == len(v):
                return [str(x) for x in users], u, [str(x) for x in items], v
    return None


class FusedEmbedding:
    """Fits the space and computes ``z = x + α·y`` per customer (scikit-learn style).

    Args:
        alpha: weight of the interacted items' mean vector y.
        dim: output size in the content space (ignored in the recommender's latent space).
        n_vocab: categories and brands kept as one-hot item coordinates.
        seed: seed of the PCA.
    """

    def __init__(self, alpha: float = 0.5, dim: int = 16, n_vocab: int = 20, seed: int = 42) -> None:
        self.alpha = alpha
        self.dim = dim
        self.n_vocab = n_vocab
        self.seed = seed

    # --- fitting -----------------------------------------------------------------------------------
    def fit(self, features: pd.DataFrame, data: ShopData, recommender: Any = None, as_of: pd.Timestamp | None = None) -> FusedEmbedding:
        """Learn the space from profile features and the shop's items (and a recommender's factors)."""
        if not np.isfinite(self.alpha) or self.alpha < 0:
            raise InputError(f"alpha must be a finite number >= 0, got {self.alpha!r}", hint="use e.g. 0.5")
        if int(self.dim) < 1:
            raise InputError(f"dim must be >= 1, got {self.dim!r}")
        maps = _factor_maps(recommender)
        if maps is not None:
            users, u, items, v = maps
            self.kind_ = "recommender"
            self.user_index_ = {c: i for i, c in enumerate(users)}
            self.user_factors_ = u
            self.item_index_ = {p: i for i, p in enumerate(items)}
            self.item_matrix_ = v
            return self
        self.kind_ = "content"
        self.__dict__.pop("never_recency_", None)
        own = self._own_raw(features)
        self.own_median_ = own.median().fillna(0.0)
        own = own.fillna(self.own_median_)
        self.own_mean_, self.own_std_ = own.mean(), own.std(ddof=0).replace(0, 1.0).fillna(1.0)
        prods = data.catalogue().drop_duplicates("product_id")
        self.categories_ = prods["category"].value_counts().index[: self.n_vocab].astype(str).tolist()
        self.brands_ = prods["brand"].value_counts().index[: self.n_vocab].astype(str).tolist()
        logp = np.log1p(pd.to_numeric(prods["price"], errors="coerce").clip(lower=0))
        self.price_mean_, self.price_std_ = float(logp.mean()) if logp.notna().any() else 0.0, float(logp.std()) or 1.0
        self.item_index_ = {str(p): i for i, p in enumerate(prods["product_id"])}
        self.item_matrix_ = self._item_features(prods)
        z = self._content_z(features, data, as_of)
        k = int(min(self.dim, z.shape[1], max(1, z.shape[0])))
        self.pca_ = PCA(n_components=k, random_state=self.seed).fit(z)
        return self

    def _own_raw(self, features: pd.DataFrame) -> pd.DataFrame:
        own = features.reindex(columns=list(OWN_FEATURES)).astype(float)
        for c in LOG_FEATURES:
            own[c] = np.log1p(own[c].clip(lower=0))
        # A customer who never bought is "long ago" rather than "average": beyond the oldest buyer.
        if not hasattr(self, "never_recency_"):
            top = own["recency_days"].max()
            self.never_recency_ = float(top) + 0.1 if np.isfinite(top) else 0.0
        own["recency_days"] = own["recency_days"].fillna(self.never_recency_)
        return own

    def _item_features(self, prods: pd.DataFrame) -> np.ndarray:
        cat = prods["category"].astype(str).to_numpy()
        brand = prods["brand"].astype(str).to_numpy()
        m = np.zeros((len(prods), len(self.categories_) + len(self.brands_) + 1))
        for j, c in enumerate(self.categories_):
            m[cat == c, j] = 1.0
        for j, b in enumerate(self.brands_):
            m[brand == b, len(self.categories_) + j] = 1.0
        logp = np.log1p(pd.to_numeric(prods["price"], errors="coerce").clip(lower=0))
        m[:, -1] = ((logp - self.price_mean_) / self.price_std_).fillna(0.0).to_numpy()
        return m

    # --- transforming ------------------------------------------------------------------------------
    def _item_means(self, customers: pd.Index, data: ShopData, as_of: pd.Timestamp | None = None) -> np.ndarray:
        """y: per customer, the interaction-weighted mean of the item vectors (zeros when none), up to ``as_of``."""
        pairs = data.interaction_weights(customers, as_of)
        w = pairs["w"].to_numpy(dtype=float)
        item_pos = pairs["product_id"].astype(str).map(self.item_index_)
        ok = item_pos.notna().to_numpy() & (w > 0)
        rows = pd.Index(customers).get_indexer(pairs["customer_id"])[ok]
        cols = item_pos[ok].astype(int).to_numpy()
        w = w[ok]
        y = np.zeros((len(customers), self.item_matrix_.shape[1]))
        np.add.at(y, rows, self.item_matrix_[cols] * w[:, None])
        tot = np.bincount(rows, weights=w, minlength=len(customers))
        return y / np.where(tot > 0, tot, 1.0)[:, None]

    def _content_z(self, features: pd.DataFrame, data: ShopData, as_of: pd.Timestamp | None = None) -> np.ndarray:
        own = self._own_raw(features).fillna(self.own_median_)
        x = ((own - self.own_mean_) / self.own_std_).to_numpy()
        y = self._item_means(features.index, data, as_of)
        return np.hstack([x, np.zeros_like(y)]) + self.alpha * np.hstack([np.zeros_like(x), y])

    def transform(self, features: pd.DataFrame, data: ShopData, as_of: pd.Timestamp | None = None) -> np.ndarray:
        """The fused embedding of each customer in ``features.index`` (rows in that order), from events up to ``as_of``."""
        if not hasattr(self, "kind_"):
            raise NotFittedError(self)
        if self.kind_ == "recommender":
            pos = pd.Series(features.index).map(self.user_index_)
            x = np.zeros((len(features), self.user_factors_.shape[1]))
            ok = pos.notna().to_numpy()
            x[ok] = self.user_factors_[pos[ok].astype(int).to_numpy()]
            return x + self.alpha * self._item_means(features.index, data, as_of)
        return self.pca_.transform(self._content_z(features, data, as_of))
