"""Shared scoring for item models that learn one sparse item × item matrix W: score(u, j) = Σ_i x(u, i) · W[i, j]."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
import scipy.sparse as sp

from persona.data import Interactions
from persona.recommend.base import Recommender, top_columns

CHUNK_CELLS = 5_000_000  # matrix cells made dense at once when keeping each row's top k (20 MB of float32)


#: A sparse block storing fewer than this share of its cells keeps its top entries without being made dense
#: (long-tail catalogues: most item pairs never co-occur, and a dense pass over them costs n_items² cells).
SPARSE_SHARE = 0.05


def top_k_rows(blocks: Iterable[np.ndarray | sp.spmatrix], n_cols: int, k: int) -> sp.csr_matrix:
    """Sorted CSR float32 matrix of the ``k`` largest entries of each row of the row ``blocks`` (zeros dropped).

    A block may be dense or sparse; a sparse one with few stored cells is ranked on those (the cells it does
    not store are zeros, which rank above its negative entries), the others are made dense first. Cells of
    −inf (see :func:`exclude_self`) rank last and are never kept.
    """
    k = min(k, max(n_cols - 1, 1))
    parts = []
    for block in blocks:
        if sp.issparse(block) and block.nnz < SPARSE_SHARE * block.shape[0] * block.shape[1]:
            parts.append(_top_k_stored(sp.csr_matrix(block, dtype=np.float32), k))
        else:
            parts.append(_top_k_dense(block.toarray() if sp.issparse(block) else block, k))
    if not parts:
        return sp.csr_matrix((0, n_cols), dtype=np.float32)
    out = sp.vstack(parts, format="csr", dtype=np.float32)
    out.data[~np.isfinite(out.data)] = 0.0
    out.eliminate_zeros()
    out.sort_indices()
    return out


def exclude_self(block: sp.csr_matrix, rows: np.ndarray) -> sp.csr_matrix:
    """``block`` (rows ``rows`` of a square matrix) with each row's own cell set to −inf (never a neighbour of
    itself: :func:`top_k_rows` ranks it last and drops it), in place."""
    own = rows[np.repeat(np.arange(block.shape[0]), np.diff(block.indptr))]
    block.data[block.indices == own] = -np.inf
    return block


def _top_k_dense(block: np.ndarray, k: int) -> sp.csr_matrix:
    top = top_columns(block, k)
    n_rows, kk = top.shape
    vals = np.take_along_axis(block, top, axis=1).astype(np.float32)
    return sp.csr_matrix((vals.ravel(), top.ravel(), np.arange(0, n_rows * kk + 1, kk)),
                         shape=(n_rows, block.shape[1]), dtype=np.float32)


def _top_k_stored(block: sp.csr_matrix, k: int) -> sp.csr_matrix:
    block.eliminate_zeros()
    block.sort_indices()  # ties go to the lower column, as in a stable sort of the dense row
    n_rows, n_cols = block.shape
    stored = np.diff(block.indptr)
    row = np.repeat(np.arange(n_rows), stored)
    # a row storing at most k cells keeps exactly its positive ones (its unstored zeros outrank its negative
    # cells, and with n_cols − stored ≥ k they fill the rest); only longer rows are ranked
    ranked = (stored > k) | (n_cols - stored < k)
    keep = ~ranked[row] & (block.data > 0)
    sel = np.flatnonzero(ranked[row])
    if len(sel):
        order = sel[np.lexsort((-block.data[sel], row[sel]))]  # row by row, largest first
        r_o = row[order]
        first = np.r_[0, np.flatnonzero(np.diff(r_o)) + 1]
        rank = np.arange(len(order)) - np.repeat(first, np.diff(np.r_[first, len(order)]))
        rank += np.where(block.data[order] < 0, (n_cols - stored)[r_o], 0)  # unstored zeros come before a negative
        keep[order[rank < k]] = True
    counts = np.bincount(row[keep], minlength=n_rows)
    return sp.csr_matrix((block.data[keep], block.indices[keep], np.concatenate([[0], np.cumsum(counts)])),
                         shape=block.shape, dtype=np.float32)


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
