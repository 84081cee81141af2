"""Rating prediction: baseline estimates plus item-kNN on their residuals (Koren, "Factor in the neighbors", 2010).

The model of choice where customers give explicit ratings (stars) and the question is "what would this customer rate
this product": a rating is predicted as the global mean plus a user bias and an item bias (regularised, fitted by
alternating least squares), corrected by how the customer rated the ``k`` items most similar to it, relative to their
own baselines. Item similarity is the Pearson correlation of the baseline residuals over the customers who rated both
items, shrunk towards zero where few did (``shrinkage``). This is the algorithm that ``surprise``'s ``KNNBaseline``
(item-based, ``pearson_baseline``) implements, computed here with sparse and dense matrix products instead of
Python loops; ``bench/bench_ratings.py`` compares the two side by side.

Ranking by predicted rating serves a different goal than the top-N models (it favours items a customer would rate
highly, not items they are likely to pick), so the model is measured by RMSE / MAE of held-out ratings, and it takes
part in ranking comparisons only where asked.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from persona.data import Interactions
from persona.errors import InputError
from persona.recommend.base import Recommender

log = logging.getLogger(__name__)

MAX_BLOCK_CELLS = 4_000_000  # item × item cells computed at once while building the similarity


def baselines(r: sp.csr_matrix, reg_items: float, reg_users: float, epochs: int) -> tuple[float, np.ndarray, np.ndarray]:
    """Global mean, user biases and item biases of ratings ``r`` (users × items, stored cells are ratings) by
    alternating regularised least squares: each item's bias is the mean of its ratings' deviations from the mean and
    their users' biases, shrunk by ``reg_items``; then each user's the same way (``reg_users``); ``epochs`` rounds."""
    coo = r.tocoo()
    u, i, v = coo.row, coo.col, coo.data.astype(np.float64)
    mu = float(v.mean())
    n_u = np.bincount(u, minlength=r.shape[0]).astype(np.float64)
    n_i = np.bincount(i, minlength=r.shape[1]).astype(np.float64)
    bu = np.zeros(r.shape[0])
    bi = np.zeros(r.shape[1])
    for _ in range(epochs):
        bi = np.bincount(i, weights=v - mu - bu[u], minlength=r.shape[1]) / (reg_items + n_i)
        bu = np.bincount(u, weights=v - mu - bi[i], minlength=r.shape[0]) / (reg_users + n_u)
    return mu, bu, bi


def pearson_baseline(res: sp.csr_matrix, shrinkage: float, dtype: type = np.float32) -> np.ndarray:
    """Item × item Pearson-baseline similarity of residuals ``res`` (users × items; stored cells are rated pairs).

    sim(i, j) = Σ e_ui e_uj / √(Σ e_ui² · Σ e_uj²), all sums over the users who rated both, times
    (n_ij − 1) / (n_ij − 1 + ``shrinkage``) with n_ij their number; 0 where fewer than two users rated both.
    """
    res = res.tocsc().astype(np.float64)
    rated = res.copy()
    rated.data = np.ones_like(rated.data)
    squared = res.copy()
    squared.data = squared.data ** 2
    res_t, rated_t, squared_t = res.T.tocsr(), rated.T.tocsr(), squared.T.tocsr()
    n = res.shape[1]
    out = np.empty((n, n), dtype=dtype)
    block = max(1, MAX_BLOCK_CELLS // max(n, 1))
    for s in range(0, n, block):
        rows = slice(s, min(n, s + block))
        num = (res_t[rows] @ res).toarray()
        common = (rated_t[rows] @ rated).toarray()
        sq_rows = (squared_t[rows] @ rated).toarray()  # Σ e_ui² over users who also rated j
        sq_cols = (rated_t[rows] @ squared).toarray()  # Σ e_uj² over users who also rated i
        with np.errstate(divide="ignore", invalid="ignore"):
            sim = num / np.sqrt(sq_rows * sq_cols)
        support = np.maximum(common - 1.0, 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            shrunk = np.where(common > 1, support / (support + shrinkage), 0.0)
        sim = np.where(np.isfinite(sim) & (common > 1), sim * shrunk, 0.0)
        out[rows] = sim
    np.fill_diagonal(out, 0.0)
    return out


class RatingKNNRecommender(Recommender):
    """Predicted ratings: baseline (mean + user and item biases) plus item-kNN on the baseline residuals.

    Args:
        k: most similar items the customer rated that correct an item's baseline (only positive similarities count).
        shrinkage: damps similarities resting on few common raters (0: none).
        reg_items, reg_users: regularisation of the item and user biases (the number of ratings a bias needs
            before it counts half).
        epochs: alternating rounds of the bias fit.
        max_items: refuse larger catalogues (the item × item similarity is dense: n_items² × 4 bytes).
    """

    name: ClassVar[str] = "rating-knn"
    default_reason: ClassVar[str] = "you would rate it highly"
    similar_reason: ClassVar[str] = "rated like {item} by the same customers"

    def __init__(self, k: int = 40, shrinkage: float = 100.0, reg_items: float = 10.0, reg_users: float = 15.0,
                 epochs: int = 10, max_items: int = 10_000):
        self.k = k
        self.shrinkage = shrinkage
        self.reg_items = reg_items
        self.reg_users = reg_users
        self.epochs = epochs
        self.max_items = max_items

    def _validate_params(self) -> None:
        for p in ("k", "epochs", "max_items"):
            v = getattr(self, p)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise InputError(f"rating-knn {p} must be a positive integer, got {v!r}")
        for p in ("shrinkage", "reg_items", "reg_users"):
            v = getattr(self, p)
            if isinstance(v, bool) or not isinstance(v, int | float) or v < 0:
                raise InputError(f"rating-knn {p} must be a non-negative number, got {v!r}")

    def unfit_reason(self, data: Interactions) -> str | None:
        return self._unfit(data, data.ratings() if data.n_items <= self.max_items else None)

    def _unfit(self, data: Interactions, ratings: sp.csr_matrix | None) -> str | None:
        """Why the model cannot fit ``data`` whose :meth:`~persona.data.Interactions.ratings` are ``ratings``."""
        if data.n_items > self.max_items:
            return f"its item × item similarity is dense and the catalogue has {data.n_items:,} items (max_items {self.max_items:,})"
        if ratings is None or ratings.nnz == 0:
            return "needs explicit ratings (rating events with a value)"
        return None

    def _fit(self, data: Interactions) -> None:
        r = data.ratings() if data.n_items <= self.max_items else None
        reason = self._unfit(data, r)
        if reason is not None:
            raise InputError(f"rating-knn cannot fit: it {reason}",
                             hint="ingest ratings (event type 'rating' with the stars as value), or choose a top-N model")
        self.mu_, self.bu_, self.bi_ = baselines(r, float(self.reg_items), float(self.reg_users), int(self.epochs))
        coo = r.tocoo()
        res = sp.csr_matrix((coo.data - self.mu_ - self.bu_[coo.row] - self.bi_[coo.col], (coo.row, coo.col)),
                            shape=r.shape)
        # symmetric, so its transpose (a column-major view, no copy) is the same matrix, and gathers whole columns
        self.similarity_ = pearson_baseline(res, float(self.shrinkage)).T
        self.residuals_ = res
        self.rating_range_ = (float(coo.data.min()), float(coo.data.max()))

    def _predict(self, user: int, items: np.ndarray | None = None) -> np.ndarray:
        """Predicted ratings of one known user for item columns ``items`` (None: every item), unclipped."""
        lo, hi = self.residuals_.indptr[user], self.residuals_.indptr[user + 1]
        rated, e = self.residuals_.indices[lo:hi], self.residuals_.data[lo:hi]
        base = self.mu_ + self.bu_[user] + (self.bi_ if items is None else self.bi_[items])
        if not len(rated):
            return base
        # items × rated (similarity_ is column-major: its columns are gathered whole); only positive similarities
        # correct the baseline
        s = np.maximum(self.similarity_[:, rated] if items is None else self.similarity_[items][:, rated], 0.0)
        if len(rated) > self.k:  # each item's k most similar rated items (ties at the k-th: all of them)
            crowded = np.flatnonzero((s > 0).sum(axis=1) > self.k)  # the other rows keep every positive one
            if len(crowded):
                part = s[crowded]
                kth = np.partition(part, len(rated) - self.k, axis=1)[:, len(rated) - self.k]
                part[part < kth[:, None]] = 0.0
                s[crowded] = part
        den = s.sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            adj = np.where(den > 0, (s @ e.astype(np.float32)) / den, 0.0)
        return base + adj

    def predict_ratings(self, user_ids: Sequence[Any], item_ids: Sequence[Any]) -> np.ndarray:
        """Predicted ratings of the pairs (``user_ids[n]``, ``item_ids[n]``), within the training ratings' range.

        An unknown user gets the item's baseline (mean + item bias), an unknown item the user's, both unknown the
        mean rating.
        """
        self._check_fitted()
        users, items = list(user_ids), list(item_ids)
        if len(users) != len(items):
            raise InputError(f"predict_ratings got {len(users)} users and {len(items)} items", hint="pass one of each per pair")
        u = self.data_.user_index(users) if users else np.empty(0, dtype=np.int64)
        i = self.data_.item_index(items) if items else np.empty(0, dtype=np.int64)
        out = self.mu_ + np.where(u >= 0, self.bu_[np.maximum(u, 0)], 0.0) + np.where(i >= 0, self.bi_[np.maximum(i, 0)], 0.0)
        both = np.flatnonzero((u >= 0) & (i >= 0))
        if len(both):
            order = both[np.argsort(u[both], kind="stable")]
            starts = np.r_[0, np.flatnonzero(np.diff(u[order])) + 1, len(order)]
            for a, b in zip(starts[:-1], starts[1:], strict=True):
                rows = order[a:b]
                out[rows] = self._predict(int(u[rows[0]]), i[rows])
        return np.clip(out, *self.rating_range_)

    def score(self, user_idx: np.ndarray) -> np.ndarray:
        """Predicted ratings of every item (rows: users)."""
        self._check_fitted()
        lo, hi = self.rating_range_
        return np.vstack([np.clip(self._predict(int(u)), lo, hi) for u in np.asarray(user_idx, dtype=np.int64)]
                         ).astype(np.float32) if len(user_idx) else np.zeros((0, self.data_.n_items), dtype=np.float32)

    def _item_similarity(self, item_idx: np.ndarray) -> np.ndarray:
        return self.similarity_[np.asarray(item_idx, dtype=np.int64)]
