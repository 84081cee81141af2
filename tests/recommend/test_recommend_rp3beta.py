"""RP3beta: the random-walk similarity against a hand-computed graph, popularity damping, and use."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from persona.errors import InputError
from persona.recommend import make_recommender
from persona.recommend.rp3beta import rp3beta_similarity


def test_similarity_matches_three_step_walk_by_hand():
    x = np.array([[1, 1, 0], [1, 0, 1], [1, 1, 1]], dtype=np.float32)
    p_ui = x / x.sum(axis=1, keepdims=True)
    p_iu = x.T / x.T.sum(axis=1, keepdims=True)
    for alpha, beta in ((1.0, 0.0), (0.8, 0.5)):
        w = (p_iu**alpha) @ (p_ui**alpha) / (x.sum(axis=0) ** beta)[None, :]
        np.fill_diagonal(w, 0.0)
        got = rp3beta_similarity(sp.csr_matrix(x), alpha, beta, k=5).toarray()
        np.testing.assert_allclose(got, w, rtol=1e-5)


def test_beta_damps_popular_items_and_k_limits_neighbours():
    rng = np.random.default_rng(0)
    x = sp.csr_matrix((rng.random((200, 30)) < np.linspace(0.6, 0.05, 30)[None, :]).astype(np.float32))
    plain = rp3beta_similarity(x, 1.0, 0.0, k=29).toarray()
    damped = rp3beta_similarity(x, 1.0, 0.8, k=29).toarray()
    # the most popular item (column 0) gets a smaller share of every item's similarity mass once damped
    share = lambda w: (w[1:, 0] / w[1:].sum(axis=1)).mean()  # noqa: E731
    assert share(damped) < share(plain)
    few = rp3beta_similarity(x, 1.0, 0.5, k=3)
    assert np.diff(few.indptr).max() <= 3


def test_recommends_within_taste_group_and_rejects_bad_params(taste_groups):
    data = taste_groups
    rec = make_recommender("rp3beta").fit(data)
    out = rec.recommend(["u0", "u1"], k=3)
    top0 = out[out["user_id"] == "u0"]["item_id"].str[1:].astype(int)
    top1 = out[out["user_id"] == "u1"]["item_id"].str[1:].astype(int)
    assert (top0 < 10).all() and (top1 >= 10).all()
    assert len(rec.similar_items(["i0"], k=3)) == 3
    for bad in ({"alpha": -1}, {"beta": "x"}, {"k": 0}):
        with pytest.raises(InputError):
            make_recommender("rp3beta", **bad).fit(data)
