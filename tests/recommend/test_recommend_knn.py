"""Item- and user-kNN similarities against values computed by hand."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from persona.data import Interactions
from persona.errors import InputError
from persona.recommend import make_recommender

# users × items
X = np.array([[1, 1, 0, 0], [1, 0, 1, 0], [0, 1, 1, 1], [1, 1, 1, 0]], dtype=float)
R = np.array([[5, 3, 0, 1], [4, 0, 4, 1], [1, 1, 0, 5], [0, 1, 5, 4]], dtype=float)


def _data(m: np.ndarray) -> Interactions:
    u, i = np.nonzero(m)
    return Interactions.from_frame(pd.DataFrame({"user_id": u, "item_id": i, "w": m[u, i]}), weight="w")


def _cos(a: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(a, axis=0)
    s = (a.T @ a) / np.outer(n, n)
    np.fill_diagonal(s, 0.0)
    return s


def test_itemknn_cosine_4x4():
    rec = make_recommender("itemknn", k=10, shrinkage=0.0, weighting=None).fit(_data(X))
    expected = _cos(X)
    # by hand: items 0 and 1 share users 0 and 3 → 2 / (sqrt(3) · sqrt(3))
    assert expected[0, 1] == pytest.approx(2 / 3)
    np.testing.assert_allclose(rec.similarity_.toarray(), expected, atol=1e-6)
    np.testing.assert_allclose(rec.score(np.arange(4)), X @ expected.T, atol=1e-5)


def test_itemknn_shrinkage_and_neighbourhood():
    rec = make_recommender("itemknn", k=1, shrinkage=2.0, weighting=None).fit(_data(X))
    dots = X.T @ X
    n = np.linalg.norm(X, axis=0)
    shrunk = dots / (np.outer(n, n) + 2.0)
    np.fill_diagonal(shrunk, 0.0)
    sim = rec.similarity_.toarray()
    assert (np.count_nonzero(sim, axis=1) <= 1).all()
    for i in range(4):
        j = int(np.argmax(sim[i]))
        assert sim[i, j] == pytest.approx(shrunk[i].max(), abs=1e-6)


def _centred(m: np.ndarray, axis: int) -> np.ndarray:
    mask = m != 0
    means = m.sum(axis=axis, keepdims=True) / np.maximum(mask.sum(axis=axis, keepdims=True), 1)
    return np.where(mask, m - means, 0.0)


def test_itemknn_pearson_and_adjusted_cosine():
    rec = make_recommender(
        "itemknn", k=10, shrinkage=0.0, similarity="pearson", binary=False, weighting=None
    ).fit(_data(R))
    np.testing.assert_allclose(rec.similarity_.toarray(), _cos(_centred(R, axis=0)), atol=1e-5)
    adj = make_recommender(
        "itemknn", k=10, shrinkage=0.0, similarity="adjusted_cosine", binary=False, weighting=None
    ).fit(_data(R))
    np.testing.assert_allclose(adj.similarity_.toarray(), _cos(_centred(R, axis=1)), atol=1e-5)


def test_pearson_on_unary_data_falls_back_to_cosine(caplog):
    with caplog.at_level(logging.WARNING):
        rec = make_recommender("itemknn", k=10, shrinkage=0.0, similarity="pearson", weighting=None).fit(
            _data(X)
        )
    assert "cosine" in caplog.text
    np.testing.assert_allclose(rec.similarity_.toarray(), _cos(X), atol=1e-6)


def test_userknn_cosine_scores():
    rec = make_recommender("userknn", k=10, shrinkage=0.0, weighting=None).fit(_data(X))
    usim = _cos(X.T)  # user × user
    np.testing.assert_allclose(rec.user_neighbours(np.arange(4)).toarray(), usim, atol=1e-6)
    np.testing.assert_allclose(rec.score(np.arange(4)), usim @ X, atol=1e-5)
    # user 0 (items 0, 1) is closest to user 3, who also has item 2
    top = rec.recommend([0], k=1)
    assert top.loc[0, "item_id"] == 2


def test_userknn_pearson():
    rec = make_recommender(
        "userknn", k=10, shrinkage=0.0, similarity="pearson", binary=False, weighting=None
    ).fit(_data(R))
    np.testing.assert_allclose(
        rec.user_neighbours(np.arange(4)).toarray(), _cos(_centred(R, axis=1).T), atol=1e-5
    )


def test_bm25_weighting_changes_similarity_and_bad_params():
    plain = (
        make_recommender("itemknn", k=10, shrinkage=0.0, weighting=None).fit(_data(X)).similarity_.toarray()
    )
    bm25 = (
        make_recommender("itemknn", k=10, shrinkage=0.0, weighting="bm25").fit(_data(X)).similarity_.toarray()
    )
    tfidf = (
        make_recommender("itemknn", k=10, shrinkage=0.0, weighting="tfidf")
        .fit(_data(X))
        .similarity_.toarray()
    )
    assert not np.allclose(plain, bm25)
    assert np.isfinite(tfidf).all()
    for bad in ({"similarity": "jaccardish"}, {"k": 0}, {"weighting": "idf2"}, {"shrinkage": -1}):
        with pytest.raises(InputError):
            make_recommender("itemknn", **bad).fit(_data(X))
