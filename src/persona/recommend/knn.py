"""Neighbourhood collaborative filtering: item-based and user-based kNN.

Similarities: ``cosine``, ``pearson`` (vectors centred on their own mean), ``adjusted_cosine`` (centred on the
other side's mean, Sarwar et al. 2001); ``shrinkage`` damps similarities resting on few co-occurrences
(sim = dot / (‖a‖‖b‖ + shrinkage)); ``weighting`` = ``tfidf`` or ``bm25`` down-weights very active users.
Centred similarities only make sense with graded weights (ratings, mixed events): on all-equal weights they
fall back to cosine with a warning.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import ClassVar

import numpy as np
import scipy.sparse as sp

from persona.data import Interactions
from persona.errors import InputError
from persona.recommend.base import Recommender
from persona.recommend.itemmatrix import exclude_self, row_chunks, top_k_rows

log = logging.getLogger(__name__)

SIMILARITIES = ("cosine", "pearson", "adjusted_cosine")
WEIGHTINGS = (None, "none", "tfidf", "bm25")


def _center_rows(x: sp.csr_matrix) -> sp.csr_matrix:
    """Subtract each row's mean over its stored entries (sparsity kept)."""
    x = x.tocsr(copy=True)
    counts = np.diff(x.indptr)
    rows = np.repeat(np.arange(x.shape[0]), counts)
    sums = np.bincount(rows, weights=x.data, minlength=x.shape[0])
    means = np.where(counts > 0, sums / np.maximum(counts, 1), 0.0)
    x.data = x.data - means[rows].astype(x.data.dtype)
    return x


def _weight(x: sp.csr_matrix, weighting: str | None, k1: float = 1.2, b: float = 0.75) -> sp.csr_matrix:
    """TF-IDF / BM25 weighting of a terms × documents matrix (rows: terms, columns: documents).

    For item vectors the users are the terms (very active users weigh less); for user vectors, pass the
    transpose so that items are the terms (blockbusters weigh less).
    """
    if weighting in (None, "none"):
        return x
    x = x.tocsr(copy=True).astype(np.float64)
    n_items = x.shape[1]
    user_deg = np.diff(x.indptr)
    idf = np.log(n_items / np.maximum(user_deg, 1)) + 1e-9
    idf_rows = np.repeat(idf, user_deg)
    if weighting == "tfidf":
        x.data = np.sqrt(x.data) * idf_rows
        return x
    item_len = np.bincount(x.indices, minlength=n_items).astype(np.float64)
    avg = item_len.mean() if n_items else 1.0
    norm = k1 * (1.0 - b + b * item_len[x.indices] / max(avg, 1e-9))
    x.data = x.data * (k1 + 1.0) / (norm + x.data) * idf_rows
    return x


def _prepare(x: sp.csr_matrix, similarity: str, items_as_vectors: bool) -> sp.csr_matrix:
    """The matrix whose rows are the vectors to compare, centred as the similarity asks."""
    if similarity == "cosine":
        return (x.T if items_as_vectors else x).tocsr()
    own_center = similarity == "pearson"
    if items_as_vectors:
        # pearson: centre each item on its mean; adjusted cosine: centre each user (row of x)
        return _center_rows(x.T.tocsr()) if own_center else _center_rows(x).T.tocsr()
    return _center_rows(x) if own_center else _center_rows(x.T.tocsr()).T.tocsr()


def _topk_similarity(
    v: sp.csr_matrix, k: int, shrinkage: float, rows: np.ndarray | None = None
) -> sp.csr_matrix:
    """Top-``k`` neighbours (by shrunk cosine) of each row of ``v`` among all rows, self excluded."""
    n = v.shape[0]
    rows = np.arange(n) if rows is None else np.asarray(rows)
    v = v.astype(np.float32)
    norms = np.sqrt(np.asarray(v.multiply(v).sum(axis=1)).ravel()).astype(np.float32)
    vt = v.T.tocsr()  # CSR once: a CSC right operand is converted to CSR again in every block product

    def blocks() -> Iterator[sp.csr_matrix]:
        for chunk in row_chunks(len(rows), n):
            r = rows[chunk]
            sims = (v[r] @ vt).tocsr()
            own = np.repeat(np.arange(len(r)), np.diff(sims.indptr))
            with np.errstate(divide="ignore", invalid="ignore"):
                sims.data /= norms[r][own] * norms[sims.indices] + shrinkage
            sims.data[~np.isfinite(sims.data)] = 0.0
            yield exclude_self(sims, r)

    return top_k_rows(blocks(), n, k)


class _KNNBase(Recommender):
    vectors_are_items: ClassVar[bool] = True

    def _validate_params(self) -> None:
        if self.similarity not in SIMILARITIES:
            raise InputError(f"similarity must be one of {SIMILARITIES}, got {self.similarity!r}")
        if self.weighting not in WEIGHTINGS:
            raise InputError(f"weighting must be one of {WEIGHTINGS[1:]}, got {self.weighting!r}")
        if not isinstance(self.k, int) or self.k < 1:
            raise InputError(f"neighbourhood size k must be a positive integer, got {self.k!r}")
        if not isinstance(self.shrinkage, int | float) or self.shrinkage < 0:
            raise InputError(f"shrinkage must be a non-negative number, got {self.shrinkage!r}")

    def _matrices(self, data: Interactions) -> tuple[sp.csr_matrix, sp.csr_matrix, str]:
        raw = data.matrix.astype(np.float64).tocsr(copy=True)
        sim = self.similarity
        if sim != "cosine" and raw.nnz and np.ptp(raw.data) == 0:
            log.warning("%s similarity on all-equal weights has no variance; using cosine instead", sim)
            sim = "cosine"
        scoring = raw.copy()
        if self.binary:
            scoring.data[:] = 1.0
        base = scoring if sim == "cosine" else raw
        if self.vectors_are_items:
            weighted = _weight(base, self.weighting)
        else:  # user vectors: items are the terms, so rare items count more
            weighted = _weight(base.T.tocsr(), self.weighting).T.tocsr()
        return weighted, scoring.astype(np.float32), sim


class ItemKNNRecommender(_KNNBase):
    """Item-based kNN: score(u, i) = Σ over i's ``k`` nearest items j of sim(i, j) · x(u, j).

    Args:
        k: neighbours kept per item.
        similarity: cosine | pearson | adjusted_cosine.
        shrinkage: damping of similarities with little support.
        weighting: None | "tfidf" | "bm25".
        binary: score (and compute cosine) on 0/1 interactions instead of weights.
    """

    name: ClassVar[str] = "itemknn"

    def __init__(
        self,
        k: int = 200,
        similarity: str = "cosine",
        shrinkage: float = 10.0,
        weighting: str | None = "bm25",
        binary: bool = True,
    ):
        self.k = k
        self.similarity = similarity
        self.shrinkage = shrinkage
        self.weighting = weighting
        self.binary = binary

    def _fit(self, data: Interactions) -> None:
        weighted, scoring, sim = self._matrices(data)
        vectors = _prepare(weighted, sim, items_as_vectors=True)
        # row i = the k nearest neighbours of target item i
        self.similarity_ = _topk_similarity(vectors, self.k, float(self.shrinkage))
        self._sim_t_ = self.similarity_.T.tocsr()
        self._x_ = scoring

    def score(self, user_idx: np.ndarray) -> np.ndarray:
        self._check_fitted()
        return self.history_scores(self._x_[np.asarray(user_idx, dtype=np.int64)])

    def history_scores(self, history: sp.csr_matrix) -> np.ndarray:
        """Scores of any (users × items) history matrix, e.g. one weighted by recency (row i of W: item i's neighbours)."""
        return np.asarray((history @ self._sim_t_).toarray(), dtype=np.float32)

    def _item_similarity(self, item_idx: np.ndarray) -> np.ndarray:
        return self.similarity_[np.asarray(item_idx, dtype=np.int64)].toarray()

    def _pair_explain(self, rec_items: np.ndarray, hist_items: np.ndarray) -> np.ndarray:
        return self.similarity_[rec_items].toarray()[:, hist_items]

    def _pair_similarity(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        s = self.similarity_
        return np.maximum(s[a][:, b].toarray(), s[b][:, a].toarray().T)


class UserKNNRecommender(_KNNBase):
    """User-based kNN: score(u, i) = Σ over u's ``k`` nearest users v of sim(u, v) · x(v, i).

    Args:
        k: neighbours per user.
        similarity: cosine | pearson | adjusted_cosine.
        shrinkage: damping of similarities with little support.
        weighting: None | "tfidf" | "bm25" (applied to the user vectors).
        binary: score on 0/1 interactions instead of weights.
    """

    name: ClassVar[str] = "userknn"
    vectors_are_items: ClassVar[bool] = False

    def __init__(
        self,
        k: int = 100,
        similarity: str = "cosine",
        shrinkage: float = 10.0,
        weighting: str | None = "bm25",
        binary: bool = True,
    ):
        self.k = k
        self.similarity = similarity
        self.shrinkage = shrinkage
        self.weighting = weighting
        self.binary = binary

    def _fit(self, data: Interactions) -> None:
        weighted, scoring, sim = self._matrices(data)
        self._vectors_ = _prepare(weighted, sim, items_as_vectors=False)
        self._x_ = scoring

    def user_neighbours(self, user_idx: np.ndarray) -> sp.csr_matrix:
        """Sparse rows (len(user_idx) × n_users) holding each user's ``k`` nearest users and similarities."""
        self._check_fitted()
        return _topk_similarity(
            self._vectors_, self.k, float(self.shrinkage), np.asarray(user_idx, dtype=np.int64)
        )

    def score(self, user_idx: np.ndarray) -> np.ndarray:
        nb = self.user_neighbours(user_idx)
        return np.asarray((nb @ self._x_).toarray(), dtype=np.float32)
