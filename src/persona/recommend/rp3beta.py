"""RP3beta: item-item random walks with popularity damping (Paudel, Christoffel, Newell & Bernstein, TiiS 2016).

The similarity of items i → j is the probability of a three-step walk i → user → j on the bipartite
interaction graph, with each transition probability raised to ``alpha`` and the target item's weight
divided by its popularity to the power ``beta`` (β > 0 favours less popular items). Only the ``k``
strongest neighbours of each item are kept. Scores are the user's history times that sparse matrix.
"""

from __future__ import annotations

import logging
from typing import ClassVar

import numpy as np
import scipy.sparse as sp

from persona.data import Interactions
from persona.errors import InputError
from persona.recommend.base import Recommender, top_columns

log = logging.getLogger(__name__)

CHUNK_CELLS = 5_000_000  # similarity cells computed at once (20 MB of float32)


def _row_normalise(x: sp.csr_matrix) -> sp.csr_matrix:
    """Each row divided by its sum (rows summing to zero stay zero)."""
    x = x.tocsr(copy=True)
    sums = np.asarray(x.sum(axis=1)).ravel()
    inv = np.divide(1.0, sums, out=np.zeros_like(sums, dtype=np.float64), where=sums > 0)
    x.data = (x.data * np.repeat(inv, np.diff(x.indptr))).astype(np.float32)
    return x


def rp3beta_similarity(x: sp.csr_matrix, alpha: float, beta: float, k: int) -> sp.csr_matrix:
    """Sparse item × item RP3beta matrix W (row i: the ``k`` items j most reachable from i, self excluded).

    Args:
        x: users × items interactions (binary or weighted; non-negative).
        alpha: exponent of the transition probabilities.
        beta: popularity damping exponent of the target item.
        k: neighbours kept per item.

    Returns:
        CSR float32 matrix (n_items × n_items).
    """
    x = sp.csr_matrix(x, dtype=np.float32)
    n_items = x.shape[1]
    p_ui = _row_normalise(x)  # user → item
    p_iu = _row_normalise(x.T.tocsr())  # item → user
    if alpha != 1.0:
        p_ui.data **= alpha
        p_iu.data **= alpha
    pop = np.asarray((x > 0).sum(axis=0)).ravel().astype(np.float64)
    damp = np.divide(1.0, np.power(pop, beta), out=np.zeros_like(pop), where=pop > 0).astype(np.float32)
    p_ui = p_ui.tocsc()
    k = min(k, max(n_items - 1, 1))
    chunk = max(1, CHUNK_CELLS // max(1, n_items))
    ind_parts, dat_parts = [], []
    for s in range(0, n_items, chunk):
        rows = np.arange(s, min(n_items, s + chunk))
        w = (p_iu[rows] @ p_ui).toarray()
        w *= damp[None, :]
        w[np.arange(len(rows)), rows] = 0.0
        top = top_columns(w, k)
        ind_parts.append(top.astype(np.int32))
        dat_parts.append(np.take_along_axis(w, top, axis=1).astype(np.float32))
    ind = np.vstack(ind_parts) if ind_parts else np.empty((0, k), dtype=np.int32)
    dat = np.vstack(dat_parts) if dat_parts else np.empty((0, k), dtype=np.float32)
    kk = ind.shape[1]
    out = sp.csr_matrix((dat.ravel(), ind.ravel(), np.arange(0, n_items * kk + 1, kk)),
                        shape=(n_items, n_items), dtype=np.float32)
    out.eliminate_zeros()
    out.sort_indices()
    return out


class RP3betaRecommender(Recommender):
    """Graph random-walk item model: score(u, j) = Σ_i x(u, i) · W[i, j] with the RP3beta W.

    Args:
        alpha: exponent of the walk's transition probabilities (1 = plain probabilities).
        beta: popularity damping of recommended items (0 = none; 0.3-0.6 usually best).
        k: neighbours kept per item.
        binary: build the graph on 0/1 interactions (True) or on the event weights.
    """

    name: ClassVar[str] = "rp3beta"

    def __init__(self, alpha: float = 1.0, beta: float = 0.5, k: int = 200, binary: bool = True):
        self.alpha = alpha
        self.beta = beta
        self.k = k
        self.binary = binary

    def _validate_params(self) -> None:
        for p in ("alpha", "beta"):
            v = getattr(self, p)
            if isinstance(v, bool) or not isinstance(v, int | float) or v < 0:
                raise InputError(f"RP3beta {p} must be a non-negative number, got {v!r}")
        if isinstance(self.k, bool) or not isinstance(self.k, int) or self.k < 1:
            raise InputError(f"RP3beta neighbourhood size k must be a positive integer, got {self.k!r}")

    def _input(self, data: Interactions) -> sp.csr_matrix:
        x = data.matrix.astype(np.float32).tocsr(copy=True)
        if self.binary:
            x.data[:] = 1.0
        return x

    def _fit(self, data: Interactions) -> None:
        x = self._input(data)
        self.similarity_ = rp3beta_similarity(x, float(self.alpha), float(self.beta), int(self.k))
        self._x_ = x

    def score(self, user_idx: np.ndarray) -> np.ndarray:
        self._check_fitted()
        return np.asarray((self._x_[np.asarray(user_idx, dtype=np.int64)] @ self.similarity_).toarray(),
                          dtype=np.float32)

    def _item_similarity(self, item_idx: np.ndarray) -> np.ndarray:
        return self.similarity_[np.asarray(item_idx, dtype=np.int64)].toarray()

    def _explain_rows(self, item_idx: np.ndarray) -> np.ndarray:
        # score(u, j) = Σ_i x(u, i) · W[i, j]: the history item explaining j is the argmax of column j
        return self.similarity_[:, np.asarray(item_idx, dtype=np.int64)].T.toarray()

    def _pair_explain(self, rec_items: np.ndarray, hist_items: np.ndarray) -> np.ndarray:
        return self.similarity_[hist_items][:, rec_items].toarray().T

    def _pair_similarity(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        s = self.similarity_
        return np.maximum(s[a][:, b].toarray(), s[b][:, a].toarray().T)
