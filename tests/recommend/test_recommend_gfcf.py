"""GF-CF: the two graph filters against a dense computation by hand, their parts, and use."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from persona.data import Interactions
from persona.errors import InputError
from persona.recommend import make_recommender
from persona.recommend.gfcf import gfcf_matrix


def _by_hand(x: np.ndarray, rank: int, alpha: float) -> np.ndarray:
    du, di = x.sum(axis=1), x.sum(axis=0)
    r = x / np.sqrt(du)[:, None] / np.sqrt(di)[None, :]
    _, _, vt = np.linalg.svd(r)  # singular values in decreasing order
    v = vt[:rank].T
    ideal = np.diag(1.0 / np.sqrt(di)) @ v @ v.T @ np.diag(np.sqrt(di))
    return r.T @ r + alpha * ideal


def _random(seed: int, shape: tuple[int, int], p: float) -> np.ndarray:
    x = (np.random.default_rng(seed).random(shape) < p).astype(float)
    x[0, :] = 1.0  # every item seen at least once
    x[:, 0] = 1.0  # every user has an item
    return x


def test_filter_equals_dense_computation_by_hand():
    x = _random(3, (30, 12), 0.35)
    for rank, alpha in ((3, 1.0), (5, 0.3), (11, 2.0)):
        np.testing.assert_allclose(gfcf_matrix(sp.csr_matrix(x), rank, alpha), _by_hand(x, rank, alpha), atol=1e-8)


def test_without_the_ideal_filter_it_is_normalised_cooccurrence():
    x = _random(4, (20, 8), 0.4)
    linear = _by_hand(x, 0, 0.0)
    np.testing.assert_allclose(gfcf_matrix(sp.csr_matrix(x), 0, 1.0), linear, atol=1e-10)
    np.testing.assert_allclose(gfcf_matrix(sp.csr_matrix(x), 4, 0.0), linear, atol=1e-10)
    # at full rank the ideal filter is the identity
    np.testing.assert_allclose(_by_hand(x, 8, 1.0) - linear, np.eye(8), atol=1e-8)


def test_an_item_nobody_picked_gets_no_score_and_breaks_nothing():
    x = _random(5, (15, 6), 0.5)
    x[:, 5] = 0.0
    b = gfcf_matrix(sp.csr_matrix(x), 2, 1.0)
    assert np.isfinite(b).all()
    assert np.abs(b[:, 5]).max() == 0.0 and np.abs(b[5]).max() == 0.0


def test_model_scores_history_times_filter_and_recommends_within_taste_group(taste_groups):
    data = taste_groups
    rec = make_recommender("gfcf", rank=2).fit(data)
    np.testing.assert_allclose(rec.score(np.arange(5)), (data.matrix[:5] > 0).toarray() @ rec.B_, atol=1e-5)
    out = rec.recommend(["u0", "u1"], k=3)
    top0 = out[out["user_id"] == "u0"]["item_id"].str[1:].astype(int)
    top1 = out[out["user_id"] == "u1"]["item_id"].str[1:].astype(int)
    assert (top0 < 10).all() and (top1 >= 10).all()
    assert out["reason"].str.startswith("because you").all()
    assert len(rec.similar_items(["i0"], k=3)) == 3
    again = make_recommender("gfcf", rank=2).fit(data)
    np.testing.assert_array_equal(again.B_, rec.B_)  # seeded SVD: the same model twice


def test_bad_parameters_and_a_catalogue_too_large_are_refused():
    data = Interactions.from_frame(pd.DataFrame({"user_id": ["a", "a", "b"], "item_id": ["x", "y", "x"]}))
    for bad in ({"alpha": -1}, {"alpha": "x"}, {"rank": -1}, {"rank": 2.5}, {"max_items": 0}):
        with pytest.raises(InputError):
            make_recommender("gfcf", **bad).fit(data)
    with pytest.raises(InputError, match="dense item-filter limit"):
        make_recommender("gfcf", max_items=1).fit(data)
