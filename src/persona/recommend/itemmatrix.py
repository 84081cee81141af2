"""Shared scoring for item models that learn one sparse item × item matrix W: score(u, j) = Σ_i x(u, i) · W[i, j]."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
import scipy.sparse as sp

from persona.data import Interactions
from persona.recommend.base import Recommender, top_columns

CHUNK_CELLS = 5_000_000  # matrix cells made dense at once when keeping each row's top k (20 MB of float32)


def top_k_rows(blocks: Iterable[np.ndarray], n_cols: int, k: int) -> sp.csr_matrix:
    """Sorted CSR float32 matrix of the ``k`` largest entries of each row of dense row ``blocks`` (zeros dropped)."""
    k = min(k, max(n_cols - 1, 1))
    ind_parts, dat_parts = [], []
    for block in blocks:
        top = top_columns(block, k)
        ind_parts.append(top.astype(np.int32))
        dat_parts.append(np.take_along_axis(block, top, axis=1).astype(np.float32))
    ind = np.vstack(ind_parts) if ind_parts else np.empty((0, k), dtype=np.int32)
    dat = np.vstack(dat_parts) if dat_parts else np.empty((0, k), dtype=np.float32)
    n_rows, kk = ind.shape
    out = sp.csr_matrix((dat.ravel(), ind.ravel(), np.arange(0, n_rows * kk + 1, kk)), shape=(n_rows, n_cols),
                        dtype=np.float32)
    out.eliminate_zeros()
    out.sort_indices()
    return out


def row_chunks(n_rows: int, n_cols: int) -> Iterator[np.ndarray]:
    """Consecutive row index ranges of about ``CHUNK_CELLS`` cells each."""
    chunk = max(1, CHUNK_CELLS // max(1, n_cols))
    for s in range(0, n_rows, chunk):
        yield np.arange(s, min(n_rows, s + chunk))


class ItemMatrixRecommender(Recommender):
    """Base of item-item models whose fit sets ``similarity_`` (W) and ``_x_`` (the users' history matrix).

    Scores, "because you … X" explanations and item similarity all read W, so a subclass only builds it.
    """

    binary: bool = True

    def _input(self, data: Interactions) -> sp.csr_matrix:
        x = data.matrix.astype(np.float32).tocsr(copy=True)
        if self.binary:
            x.data[:] = 1.0
        return x

    def score(self, user_idx: np.ndarray) -> np.ndarray:
        self._check_fitted()
        return self.history_scores(self._x_[np.asarray(user_idx, dtype=np.int64)])

    def history_scores(self, history: sp.csr_matrix) -> np.ndarray:
        """Scores of any (users × items) history matrix, e.g. one weighted by recency: history · W."""
        return np.asarray((history @ self.similarity_).toarray(), dtype=np.float32)

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
