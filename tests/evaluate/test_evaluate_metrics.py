"""Ranking, rating and beyond-accuracy metrics against values computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from persona.errors import InputError, SchemaError
from persona.evaluate import (
    average_popularity,
    catalog_coverage,
    gini_index,
    hit_rate_at_k,
    intra_list_diversity,
    mae,
    map_at_k,
    mrr_at_k,
    ndcg_at_k,
    novelty,
    precision_at_k,
    ranking_metrics,
    recall_at_k,
    rmse,
    top_k,
)

# user a: test {1, 2, 3}, recs 1 (hit), 9, 2 (hit), 8; user b: test {4}, recs 7, 4 (hit), 6;
# user c is only in the truth, user d only in the recs: neither counts.
TRUTH = pd.DataFrame({"user_id": ["a", "a", "a", "b", "c"], "item_id": [1, 2, 3, 4, 5]})
RECS = pd.DataFrame({
    "user_id": ["a", "a", "a", "a", "b", "b", "b", "d"],
    "item_id": [8, 2, 9, 1, 6, 4, 7, 1],
    "score": [0.1, 0.7, 0.8, 0.9, 0.3, 0.5, 0.6, 1.0],
})
LN = math.log


def test_precision_recall_at_3():
    assert precision_at_k(TRUTH, RECS, 3) == pytest.approx((2 / 3 + 1 / 3) / 2)
    assert recall_at_k(TRUTH, RECS, 3) == pytest.approx((2 / 3 + 1 / 1) / 2)


def test_ndcg_uses_natural_log_gain_and_min_test_k_ideal():
    a = (1 / LN(2) + 1 / LN(4)) / (1 / LN(2) + 1 / LN(3) + 1 / LN(4))
    b = (1 / LN(3)) / (1 / LN(2))
    assert ndcg_at_k(TRUTH, RECS, 3) == pytest.approx((a + b) / 2)
    # at k = 2 user a's ideal has only 2 positions and the hit at rank 3 no longer counts
    a2 = (1 / LN(2)) / (1 / LN(2) + 1 / LN(3))
    assert ndcg_at_k(TRUTH, RECS, 2) == pytest.approx((a2 + b) / 2)


def test_map_divides_by_all_test_items():
    # a: (1/1 + 2/3) / |test|=3 ; b: (1/2) / 1
    assert map_at_k(TRUTH, RECS, 3) == pytest.approx(((1 + 2 / 3) / 3 + 0.5) / 2)
    # at k = 1 user a still divides by 3, not by min(3, 1)
    assert map_at_k(TRUTH, RECS, 1) == pytest.approx((1 / 3 + 0) / 2)


def test_mrr_and_hit_rate():
    assert mrr_at_k(TRUTH, RECS, 3) == pytest.approx((1 + 0.5) / 2)
    assert hit_rate_at_k(TRUTH, RECS, 3) == pytest.approx(1.0)
    assert hit_rate_at_k(TRUTH, RECS, 1) == pytest.approx(0.5)


def test_ranking_metrics_bundle_matches_single_functions():
    out = ranking_metrics(TRUTH, RECS, 3)
    assert set(out) == {"precision@3", "recall@3", "ndcg@3", "map@3", "mrr@3", "hit_rate@3"}
    assert out["ndcg@3"] == pytest.approx(ndcg_at_k(TRUTH, RECS, 3))
    assert out["map@3"] == pytest.approx(map_at_k(TRUTH, RECS, 3))


def test_rank_column_is_used_without_scores():
    recs = RECS.drop(columns="score").assign(rank=[4, 3, 2, 1, 3, 2, 1, 1])
    assert ndcg_at_k(TRUTH, recs, 3) == pytest.approx(ndcg_at_k(TRUTH, RECS, 3))


def test_perfect_and_empty_lists():
    perfect = TRUTH.assign(score=1.0)
    assert ndcg_at_k(TRUTH, perfect, 10) == pytest.approx(1.0)
    assert recall_at_k(TRUTH, perfect, 10) == pytest.approx(1.0)
    none = pd.DataFrame({"user_id": ["zz"], "item_id": [1], "score": [1.0]})
    assert precision_at_k(TRUTH, none, 10) == 0.0


def test_top_k_is_stable_and_ranked():
    out = top_k(pd.DataFrame({"user_id": [1, 1, 1], "item_id": [5, 6, 7], "score": [1.0, 1.0, 2.0]}), 2)
    assert out["item_id"].tolist() == [7, 5] and out["rank"].tolist() == [1, 2]


def test_bad_inputs_are_explained():
    with pytest.raises(InputError):
        ranking_metrics(TRUTH, RECS, 0)
    with pytest.raises(InputError, match="unknown ranking metric"):
        ranking_metrics(TRUTH, RECS, 3, metrics=["auc"])
    with pytest.raises(SchemaError, match="lacks column"):
        ranking_metrics(TRUTH.rename(columns={"item_id": "x"}), RECS, 3)


def test_rmse_mae():
    truth = pd.DataFrame({"user_id": [1, 1, 2], "item_id": [1, 2, 1], "rating": [5.0, 3.0, 4.0]})
    pred = pd.DataFrame({"user_id": [1, 1, 2, 3], "item_id": [1, 2, 1, 1], "prediction": [4.0, 3.0, 2.0, 9.0]})
    assert rmse(truth, pred) == pytest.approx(math.sqrt((1 + 0 + 4) / 3))
    assert mae(truth, pred) == pytest.approx((1 + 0 + 2) / 3)
    with pytest.raises(InputError):
        rmse(truth, pred.assign(user_id=99))


def test_coverage_novelty_popularity_gini():
    train = pd.DataFrame({"user_id": [1, 2, 3, 4, 1], "item_id": ["x", "x", "x", "x", "y"]})
    recs = pd.DataFrame({"user_id": [1, 1, 2, 2], "item_id": ["x", "y", "x", "z"]})
    assert catalog_coverage(recs, 4) == pytest.approx(3 / 4)
    assert catalog_coverage(recs, ["x", "y", "z", "w", "x"]) == pytest.approx(3 / 4)
    # x: 4/4 users -> 0 bits, y: 1/4 -> 2 bits; z unseen in train is skipped
    assert novelty(recs, train) == pytest.approx((0 + 2 + 0) / 3)
    # user 1: mean(1, 0.25) ; user 2: mean(1, 0)
    assert average_popularity(recs, train) == pytest.approx((0.625 + 0.5) / 2)
    assert gini_index(pd.DataFrame({"item_id": ["a", "b"]})) == pytest.approx(0.0)
    assert gini_index(pd.DataFrame({"item_id": ["a"] * 3}), catalog=3) == pytest.approx(2 / 3)


def test_intra_list_diversity():
    vectors = sp.csr_matrix(np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]))
    ids = ["p", "q", "r"]
    same = pd.DataFrame({"user_id": [1, 1], "item_id": ["p", "q"]})
    apart = pd.DataFrame({"user_id": [1, 1], "item_id": ["p", "r"]})
    assert intra_list_diversity(same, vectors, ids) == pytest.approx(0.0)
    assert intra_list_diversity(apart, vectors, ids) == pytest.approx(1.0)
    both = pd.concat([same, apart.assign(user_id=2)])
    assert intra_list_diversity(both, vectors, ids) == pytest.approx(0.5)


def test_intra_list_diversity_equals_the_pairwise_mean_of_every_list():
    """Each list's 1 − mean pairwise cosine, averaged: checked by brute force on lists with repeated items, items
    without any vector (zero rows), unknown items and one-item lists (skipped), under string and int user ids."""
    rng = np.random.default_rng(3)
    dense = rng.random((30, 12)) * (rng.random((30, 12)) < 0.3)
    dense[[4, 9]] = 0.0  # items no one has: zero vectors
    ids = [f"i{k}" for k in range(30)]
    users = ["a", "b", 7, "c", "d"]
    lens = [10, 10, 2, 1, 6]
    recs = pd.DataFrame({"user_id": np.repeat(np.array(users, dtype=object), lens),
                         "item_id": [ids[k] for k in rng.integers(0, 30, sum(lens))]})
    recs.loc[[0, 1], "item_id"] = recs.loc[0, "item_id"]  # an item twice in one list
    recs.loc[12, "item_id"] = "unknown"
    norm = np.linalg.norm(dense, axis=1)
    unit = dense / np.where(norm > 0, norm, 1.0)[:, None]
    expected = []
    for _, items in recs.groupby("user_id", sort=False)["item_id"]:
        rows = [ids.index(i) for i in items if i in ids]
        if len(rows) < 2:
            continue
        sim = unit[rows] @ unit[rows].T
        expected.append(1.0 - (sim.sum() - np.trace(sim)) / (len(rows) * (len(rows) - 1)))
    assert len(expected) == 4  # user c's list of one is skipped
    assert intra_list_diversity(recs, sp.csr_matrix(dense), ids) == pytest.approx(float(np.mean(expected)), abs=1e-12)
    assert intra_list_diversity(recs.iloc[:0], sp.csr_matrix(dense), ids) == 0.0
