"""``ProfileBuilder``: shop frames → one profile per customer (features + fused embedding)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd

from persona.errors import InputError, NotFittedError
from persona.profiles.embedding import FusedEmbedding
from persona.profiles.source import ShopData

log = logging.getLogger(__name__)


def _utc(ts: Any) -> pd.Timestamp:
    t = pd.Timestamp(ts)
    return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")


class ProfileBuilder:
    """Builds customer profiles; ``fit`` learns the embedding space, ``transform`` describes customers.

    Args:
        alpha: weight α of the interacted items' mean vector in the embedding ``z = x + α·y``.
        embedding_dim: size of the content-space embedding.
        n_categories: category shares kept per profile.
        seed: seed of every stochastic step.
    """

    def __init__(self, alpha: float = 0.5, embedding_dim: int = 16, n_categories: int = 12, seed: int = 42) -> None:
        self.alpha = alpha
        self.embedding_dim = embedding_dim
        self.n_categories = n_categories
        self.seed = seed

    def fit(self, data: ShopData, as_of: Any = None, recommender: Any = None) -> ProfileBuilder:
        """Learn the embedding space from the whole shop as of ``as_of`` (default: the newest event).

        ``data`` is a :class:`ShopData`, or the Spark engine's ``SparkShop`` (features computed on Spark).

        Raises:
            InputError: the shop has no events and no ``as_of`` was given.
        """
        as_of = self._as_of(data, as_of)
        feats = data.features(as_of, n_categories=self.n_categories)
        self.embedding_ = FusedEmbedding(alpha=self.alpha, dim=self.embedding_dim, seed=self.seed).fit(feats, data, recommender, as_of)
        self.as_of_ = as_of
        self.watermark_ = data.max_event_id
        self._last = feats
        return self

    @staticmethod
    def _as_of(data: ShopData, as_of: Any) -> pd.Timestamp:
        if as_of is not None:
            return _utc(as_of)
        last = data.last_event_ts
        if last is None:
            raise InputError("no events in the store, so profiles have no point in time", hint="ingest events first, or pass as_of")
        return last

    def transform(self, data: ShopData, as_of: Any = None, customer_ids: Any = None) -> pd.DataFrame:
        """Profiles of ``customer_ids`` (default: all known) as of ``as_of`` (default: the newest event).

        Returns:
            The feature frame (indexed by ``customer_id``) with an ``embedding`` column of lists.
        """
        if not hasattr(self, "embedding_"):
            raise NotFittedError(self)
        as_of = self._as_of(data, as_of)
        ids = None if customer_ids is None else pd.Index(list(customer_ids), name="customer_id")
        feats = self._last if (ids is None and as_of == self.as_of_ and getattr(self, "_last", None) is not None) else None
        if feats is None:
            feats = data.features(as_of, ids, n_categories=self.n_categories)
        emb = self.embedding_.transform(feats, data, as_of) if len(feats) else np.zeros((0, 1))
        out = feats.copy()
        out["embedding"] = [list(np.round(r, 5)) for r in emb]
        out["as_of"] = as_of
        return out

    def fit_transform(self, data: ShopData, as_of: Any = None, recommender: Any = None) -> pd.DataFrame:
        """``fit`` then ``transform`` on the same shop."""
        return self.fit(data, as_of, recommender).transform(data, as_of)

    def save(self, path: Path) -> Path:
        """Write the fitted builder (without cached frames) with joblib."""
        if not hasattr(self, "embedding_"):
            raise NotFittedError(self)
        path.parent.mkdir(parents=True, exist_ok=True)
        state = {k: v for k, v in self.__dict__.items() if k != "_last"}
        joblib.dump(state, path)
        return path

    @classmethod
    def load(cls, path: Path) -> ProfileBuilder:
        """Read a builder written by :meth:`save`."""
        state = joblib.load(path)
        obj = cls.__new__(cls)
        obj.__dict__.update(state)
        obj._last = None
        return obj


def build_profiles(
    events: pd.DataFrame,
    customers: pd.DataFrame,
    products: pd.DataFrame,
    reviews: pd.DataFrame | None = None,
    as_of: Any = None,
    *,
    alpha: float = 0.5,
    recommender: Any = None,
    seed: int = 42,
) -> pd.DataFrame:
    """One profile row per customer from plain frames (the functional form of :class:`ProfileBuilder`)."""
    data = ShopData(events=events, customers=customers, products=products, reviews=reviews)
    return ProfileBuilder(alpha=alpha, seed=seed).fit_transform(data, as_of, recommender)
