"""ALS and BPR (via implicit): they recover a two-block taste structure and expose their factors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from persona.data import Interactions
from persona.recommend import make_recommender


def _blocks(seed: int = 0) -> Interactions:
    """40 users, 20 items: users 0-19 use items 0-9, users 20-39 items 10-19, six each at random."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(40):
        home = np.arange(10) if u < 20 else np.arange(10, 20)
        rows += [(u, int(j)) for j in rng.choice(home, 6, replace=False)]
    return Interactions.from_frame(pd.DataFrame(rows, columns=["user_id", "item_id"]))


@pytest.mark.parametrize(
    "name,params",
    [
        ("als", {"factors": 8, "iterations": 15}),
        ("bpr", {"factors": 8, "iterations": 100, "learning_rate": 0.05}),
    ],
)
def test_factor_models_learn_blocks(name, params):
    data = _blocks()
    rec = make_recommender(name, **params).fit(data)
    assert rec.user_factors_.shape[0] == data.n_users
    assert rec.item_factors_.shape[0] == data.n_items
    out = rec.recommend(list(data.user_ids), k=3)
    same_block = (out["user_id"].astype(int) < 20) == (out["item_id"].astype(int) < 10)
    assert same_block.mean() > 0.9
    sim = rec.similar_items([0], k=5)
    assert (sim["similar_item_id"].astype(int) < 10).mean() >= 0.8


def test_als_auto_regularisation_and_dot_products():
    data = _blocks()
    rec = make_recommender("als", factors=4, iterations=3).fit(data)
    assert rec.regularization_ == pytest.approx(0.45 * data.nnz / data.n_items)
    u = np.array([0, 3])
    np.testing.assert_allclose(rec.score(u), rec.user_factors_[u] @ rec.item_factors_.T, rtol=1e-5)
    fixed = make_recommender("als", factors=4, iterations=3, regularization=0.5).fit(data)
    assert fixed.regularization_ == 0.5
