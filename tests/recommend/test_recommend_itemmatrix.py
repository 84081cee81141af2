"""Keeping each row's top k of an item × item matrix: dense and sparse blocks give the same neighbours."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from persona.data import Interactions
from persona.recommend import make_recommender
from persona.recommend.itemmatrix import SPARSE_SHARE, exclude_self, top_k_rows


def _reference(dense: np.ndarray, k: int) -> np.ndarray:
    """Top k of each row by brute force (−inf never kept, zeros dropped)."""
    out = np.zeros_like(dense)
    for i, row in enumerate(dense):
        top = np.argsort(-row, kind="stable")[:k]
        out[i, top] = row[top]
    out[~np.isfinite(out)] = 0.0
    return out


def _random_sparse(n_rows: int, n_cols: int, density: float, seed: int) -> sp.csr_matrix:
    m = sp.random(n_rows, n_cols, density=density, random_state=seed, format="csr", dtype=np.float32)
    m.data -= 0.3  # negative entries too: they rank below the unstored zeros
    return m


@pytest.mark.parametrize("k", [1, 3, 40])
def test_sparse_blocks_keep_the_same_entries_as_dense_ones(k):
    m = _random_sparse(60, 400, 0.01, seed=k)
    assert m.nnz < SPARSE_SHARE * m.shape[0] * m.shape[1]  # the stored-entries path
    blocks = [m[:25], m[25:]]
    got = top_k_rows(blocks, 400, k)
    dense = top_k_rows([b.toarray() for b in blocks], 400, k)
    np.testing.assert_allclose(got.toarray(), _reference(m.toarray(), k))
    np.testing.assert_allclose(got.toarray(), dense.toarray())
    assert got.has_sorted_indices and got.dtype == np.float32


def test_negative_entries_are_kept_only_when_the_row_has_too_few_others():
    m = sp.csr_matrix(np.array([[0.0, -1.0, 2.0, -3.0], [0.0, 0.0, 0.0, 0.0]], dtype=np.float32))
    # row 0: 2.0, then the unstored zero (dropped), then -1.0: with k = 3 the -1.0 is kept, -3.0 is not
    np.testing.assert_allclose(top_k_rows([m], 4, 3).toarray()[0], [0.0, -1.0, 2.0, 0.0])


def test_self_cells_are_never_neighbours():
    m = sp.csr_matrix(np.array([[5.0, 1.0, -1.0], [1.0, 5.0, 2.0], [-1.0, 2.0, 5.0]], dtype=np.float32))
    for block in (exclude_self(m.copy(), np.arange(3)), exclude_self(m.copy(), np.arange(3)).toarray()):
        out = top_k_rows([block], 3, 2).toarray()
        assert np.all(np.diag(out) == 0.0)
        np.testing.assert_allclose(out[0], [0.0, 1.0, -1.0])


def test_itemknn_on_a_long_tail_catalogue_matches_brute_force():
    rng = np.random.default_rng(3)
    n_users, n_items = 120, 3000
    df = pd.DataFrame({"user_id": rng.integers(0, n_users, 2500), "item_id": rng.integers(0, n_items, 2500),
                       "w": rng.random(2500) + 0.5}).drop_duplicates(["user_id", "item_id"])
    data = Interactions.from_frame(df, weight="w")
    rec = make_recommender("itemknn", k=5, shrinkage=2.0, weighting=None, binary=False).fit(data)
    x = data.matrix.toarray().T.astype(np.float64)  # items × users
    norms = np.linalg.norm(x, axis=1)
    sims = x @ x.T / (np.outer(norms, norms) + 2.0)
    np.fill_diagonal(sims, -np.inf)
    np.testing.assert_allclose(rec.similarity_.toarray(), _reference(sims, 5), atol=1e-5)
