"""Rating prediction: baselines plus item-kNN on their residuals, checked against the formulas and ``surprise``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from persona.data import Interactions
from persona.errors import InputError
from persona.recommend import make_recommender
from persona.recommend.ratingknn import baselines, pearson_baseline


def _ratings(n_users: int = 60, n_items: int = 30, density: float = 0.3, seed: int = 0) -> pd.DataFrame:
    """Stars driven by a user bias, an item bias and two taste groups."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        for i in range(n_items):
            if rng.random() < density:
                taste = 1.0 if (u % 2) == (i % 2) else -1.0
                stars = 3 + 0.5 * taste + 0.02 * (u % 7) - 0.03 * (i % 5) + rng.normal(0, 0.6)
                rows.append((f"u{u}", f"i{i}", float(np.clip(np.round(stars), 1, 5)), u * 100 + i))
    return pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "ts"])


def test_baselines_are_the_alternating_regularised_means():
    r = sp.csr_matrix(np.array([[5.0, 3.0, 0.0], [4.0, 0.0, 1.0], [0.0, 2.0, 2.0]]))
    mu, bu, bi = baselines(r, reg_items=2.0, reg_users=3.0, epochs=1)
    assert mu == pytest.approx(17 / 6)
    # one round: item biases from zero user biases, then user biases from those item biases
    exp_bi = np.array([(5 - mu) + (4 - mu), (3 - mu) + (2 - mu), (1 - mu) + (2 - mu)]) / (2.0 + 2)
    np.testing.assert_allclose(bi, exp_bi)
    exp_bu = np.array([(5 - mu - exp_bi[0]) + (3 - mu - exp_bi[1]), (4 - mu - exp_bi[0]) + (1 - mu - exp_bi[2]),
                       (2 - mu - exp_bi[1]) + (2 - mu - exp_bi[2])]) / (3.0 + 2)
    np.testing.assert_allclose(bu, exp_bu)


def test_pearson_baseline_is_the_shrunk_correlation_over_common_raters():
    rng = np.random.default_rng(1)
    dense = rng.normal(size=(12, 5)) * (rng.random((12, 5)) < 0.7)
    res = sp.csr_matrix(dense)
    sim = pearson_baseline(res, shrinkage=3.0, dtype=np.float64)
    for i in range(5):
        for j in range(5):
            both = (dense[:, i] != 0) & (dense[:, j] != 0)
            n = int(both.sum())
            if i == j or n < 2:
                assert sim[i, j] == 0.0
                continue
            a, b = dense[both, i], dense[both, j]
            expected = (a @ b) / np.sqrt((a @ a) * (b @ b)) * (n - 1) / (n - 1 + 3.0)
            assert sim[i, j] == pytest.approx(expected)


def test_predictions_equal_surprise_knnbaseline():
    surprise = pytest.importorskip("surprise")
    df = _ratings()
    train, test = df.iloc[: int(0.8 * len(df))], df.iloc[int(0.8 * len(df)):]
    model = make_recommender("rating-knn", k=10).fit(Interactions.from_frame(train, weight="rating", time="ts"))
    ours = model.predict_ratings(test["user_id"].tolist(), test["item_id"].tolist())
    data = surprise.Dataset.load_from_df(train[["user_id", "item_id", "rating"]], surprise.Reader(rating_scale=(1, 5)))
    algo = surprise.KNNBaseline(k=10, sim_options={"name": "pearson_baseline", "user_based": False},
                                bsl_options={"method": "als", "reg_i": 10, "reg_u": 15, "n_epochs": 10}, verbose=False)
    algo.fit(data.build_full_trainset())
    theirs = np.array([algo.predict(u, i).est for u, i in zip(test["user_id"], test["item_id"], strict=True)])
    np.testing.assert_allclose(ours, theirs, atol=1e-5)


def test_unknown_users_and_items_get_baselines_within_the_rating_range():
    df = _ratings()
    model = make_recommender("rating-knn").fit(Interactions.from_frame(df, weight="rating", time="ts"))
    u, i = model.data_.user_index(["u3"])[0], model.data_.item_index(["i4"])[0]
    got = model.predict_ratings(["u3", "nobody", "u3", "nobody"], ["new item", "i4", "i4", "new item"])
    assert got[0] == pytest.approx(np.clip(model.mu_ + model.bu_[u], 1, 5))
    assert got[1] == pytest.approx(np.clip(model.mu_ + model.bi_[i], 1, 5))
    assert got[3] == pytest.approx(model.mu_)
    assert 1.0 <= got[2] <= 5.0
    scores = model.score(np.arange(3))
    assert scores.shape == (3, model.data_.n_items) and scores.min() >= 1.0 and scores.max() <= 5.0
    # the ranking is by predicted rating: a customer's top item is one of their highest predictions
    top = model.recommend(["u3"], k=1)
    assert top["score"].iloc[0] == pytest.approx(model.predict_ratings(["u3"], [top["item_id"].iloc[0]])[0], abs=1e-5)
    with pytest.raises(InputError, match="2 users and 1 items"):
        model.predict_ratings(["u1", "u2"], ["i1"])


def test_without_ratings_it_says_what_it_needs():
    plain = Interactions.from_frame(pd.DataFrame({"user_id": ["a", "b", "a"], "item_id": ["x", "x", "y"]}))
    model = make_recommender("rating-knn")
    assert "needs explicit ratings" in model.unfit_reason(plain)
    with pytest.raises(InputError, match="needs explicit ratings"):
        model.fit(plain)
    with pytest.raises(InputError, match="k must be a positive integer"):
        make_recommender("rating-knn", k=0).fit(plain)
    big = make_recommender("rating-knn", max_items=1)
    assert "dense" in big.unfit_reason(plain)


def test_ratings_are_each_pairs_latest_rating_event():
    df = pd.DataFrame({"user_id": ["a", "a", "a", "b", "b"], "item_id": ["x", "x", "y", "x", "y"],
                       "event": ["rating", "rating", "view", "rating", "purchase"], "value": [2.0, 4.0, None, 5.0, None],
                       "t": [1, 2, 3, 1, 2]})
    data = Interactions.from_frame(df, weight="value", time="t", event_type="event")
    r = pd.DataFrame(data.ratings().toarray(), index=data.user_ids, columns=data.item_ids)
    assert r.loc["a", "x"] == 4.0 and r.loc["b", "x"] == 5.0 and data.ratings().nnz == 2
    # without event types: the weights are ratings when they vary, and no ratings when all are equal
    varied = Interactions.from_frame(df.dropna(), weight="value", time="t")
    assert varied.ratings().nnz == 2 and varied.ratings()[varied.user_index(["a"])[0], 0] == 4.0
    assert Interactions.from_frame(df[["user_id", "item_id"]]).ratings().nnz == 0


def test_similar_items_are_the_most_co_rated_alike_and_shrinkage_zero_is_plain_pearson():
    df = _ratings(density=0.6)
    data = Interactions.from_frame(df, weight="rating", time="ts")
    model = make_recommender("rating-knn").fit(data)
    sim = model.similar_items(["i0"], k=5)
    assert len(sim) == 5 and "i0" not in set(sim["similar_item_id"])
    # same-taste items (even ids, as i0) are rated alike by the same customers
    assert sum(int(i[1:]) % 2 == 0 for i in sim["similar_item_id"]) >= 4
    assert set(sim["reason"]) == {"rated like i0 by the same customers"}
    plain = make_recommender("rating-knn", shrinkage=0.0).fit(data)
    assert np.isfinite(plain.similarity_).all() and np.abs(plain.similarity_).max() <= 1.0 + 1e-6
