"""The shared top-k helpers every recommender ranks with."""

from __future__ import annotations

import numpy as np

from persona.recommend.base import top_columns, topk_indices


def test_top_columns_picks_the_k_largest_even_in_rows_full_of_ties():
    rng = np.random.default_rng(0)
    x = np.zeros((20, 500), dtype=np.float32)
    hot = rng.random(x.shape) < 0.03
    x[hot] = rng.random(int(hot.sum())).astype(np.float32)
    x[:, 7] = -np.inf  # e.g. the item itself
    top = top_columns(x, 25)
    assert top.shape == (20, 25)
    picked = np.sort(np.take_along_axis(x, top, axis=1), axis=1)
    expected = np.sort(x, axis=1)[:, -25:]
    np.testing.assert_array_equal(picked, expected)
    assert not (top == 7).any()
    assert top.base is None  # its own memory, not a view of the full partition
    # k at or beyond the row length: every column
    assert top_columns(x[:3, :5], 5).tolist() == [list(range(5))] * 3
    assert top_columns(x[:3, :5], 9).shape == (3, 5)


def test_topk_indices_orders_best_first_and_marks_excluded_positions():
    scores = np.array([[0.1, 0.9, 0.5, -np.inf], [-np.inf, -np.inf, 0.2, -np.inf]], dtype=np.float32)
    out = topk_indices(scores, 3)
    assert out[0].tolist() == [1, 2, 0]
    assert out[1].tolist()[0] == 2 and (out[1][1:] == -1).all()


def test_nan_scores_are_left_out_of_lists_and_logged(caplog):
    import pandas as pd

    from persona.data import Interactions
    from persona.recommend.popular import PopularRecommender

    class HalfNaN(PopularRecommender):
        def score(self, user_idx):
            s = super().score(user_idx).astype(np.float32)
            s[:, ::2] = np.nan
            return s

    data = Interactions.from_frame(pd.DataFrame({"user_id": ["a", "a", "b", "c", "c", "c"],
                                                 "item_id": ["x", "y", "x", "y", "z", "w"]}))
    with caplog.at_level("WARNING", logger="persona.recommend.base"):
        out = HalfNaN().fit(data).recommend(["a", "b"], k=4, reasons=False)
    assert "scored 2 of 2 customers NaN" in caplog.text
    nan_items = set(data.item_ids[::2])
    assert len(out) and not set(out["item_id"]) & nan_items
