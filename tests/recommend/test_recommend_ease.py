"""EASE against the closed form computed by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from persona.data import Interactions
from persona.errors import InputError
from persona.recommend import make_recommender


def _frame(x: np.ndarray) -> pd.DataFrame:
    u, i = np.nonzero(x)
    return pd.DataFrame({"user_id": u, "item_id": i, "w": x[u, i]})


def test_ease_equals_closed_form():
    rng = np.random.default_rng(1)
    x = (rng.random((12, 6)) < 0.45).astype(float)
    x[0, :] = 1.0  # every item seen at least once
    data = Interactions.from_frame(_frame(x), weight="w")
    lam = 3.0
    rec = make_recommender("ease", lambda_=lam).fit(data)
    g = x.T @ x + lam * np.eye(6)
    p = np.linalg.inv(g)
    b = np.eye(6) - p / np.diag(p)  # B = I - P diag(1/diag(P))
    np.testing.assert_allclose(np.diag(b), 0.0, atol=1e-12)
    np.testing.assert_allclose(rec.B_, b, atol=1e-5)
    np.testing.assert_allclose(rec.score(np.arange(12)), x @ b, atol=1e-4)


def test_ease_weighted_input_and_ranking():
    x = np.array([[1, 1, 0, 0], [1, 1, 1, 0], [0, 0, 1, 1], [0, 1, 1, 1]], dtype=float)
    data = Interactions.from_frame(_frame(x), weight="w")
    rec = make_recommender("ease", lambda_=0.5).fit(data)
    top = rec.recommend([0], k=1, reasons=True)
    assert top.loc[0, "item_id"] == 2  # co-occurs with items 0 and 1 through user 1
    assert top.loc[0, "reason"].startswith("because you")


def test_ease_refuses_huge_catalogue():
    df = pd.DataFrame({"user_id": [0, 1, 2], "item_id": [0, 1, 2]})
    data = Interactions.from_frame(df, item_ids=list(range(30)))
    with pytest.raises(InputError, match="max_items"):
        make_recommender("ease", max_items=20).fit(data)
    with pytest.raises(InputError, match="lambda_"):
        make_recommender("ease", lambda_=-1).fit(data)


def test_dlae_equals_closed_form():
    rng = np.random.default_rng(2)
    x = (rng.random((15, 7)) < 0.4).astype(float)
    x[0, :] = 1.0  # every item seen
    x[:, 0] = 1.0  # every user has history
    data = Interactions.from_frame(_frame(x), weight="w")
    lam, p = 2.0, 0.4
    rec = make_recommender("dlae", lambda_=lam, dropout=p).fit(data)
    g = x.T @ x
    big_l = np.diag(p / (1 - p) * np.diag(g) + lam)
    b = np.linalg.solve(g + big_l, g)  # DLAE: B = (G + Λ)⁻¹ G
    np.testing.assert_allclose(rec.B_, b, atol=1e-5)
    np.testing.assert_allclose(rec.score(np.arange(15)), x @ b, atol=1e-4)
    # no dropout: plain ridge regression of X on itself
    ridge = make_recommender("dlae", lambda_=lam, dropout=0.0).fit(data)
    np.testing.assert_allclose(ridge.B_, np.linalg.solve(g + lam * np.eye(7), g), atol=1e-5)


def test_dlae_refuses_bad_dropout():
    df = pd.DataFrame({"user_id": [0, 1, 2], "item_id": [0, 1, 2]})
    data = Interactions.from_frame(df)
    for bad in (1.0, -0.1, True, "half"):
        with pytest.raises(InputError, match="dropout"):
            make_recommender("dlae", dropout=bad).fit(data)
    with pytest.raises(InputError, match="lambda_"):
        make_recommender("dlae", lambda_=0).fit(data)
    big = Interactions.from_frame(df, item_ids=list(range(30)))
    with pytest.raises(InputError, match="max_items"):
        make_recommender("dlae", max_items=20).fit(big)
