"""Two models' top-k lists slot by slot: shared and one-sided slots, the hits among each, and refusals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from persona.errors import InputError, SchemaError
from persona.evaluate import ListDifference, list_difference, per_user_ranking_metrics

TRUTH = pd.DataFrame({"user_id": ["a", "a", "b", "b", "c"], "item_id": [11, 14, 15, 10, 1]})
A = pd.DataFrame({"user_id": ["a", "a", "a", "a", "b", "b", "d"],
                  "item_id": [10, 11, 12, 99, 10, 13, 1],
                  "score": [3.0, 2.0, 1.0, 0.5, 2.0, 1.0, 1.0]})
B = pd.DataFrame({"user_id": ["a", "a", "a", "b", "b", "c"],
                  "item_id": [10, 14, 12, 15, 13, 1],
                  "score": [3.0, 2.0, 1.0, 2.0, 1.0, 1.0]})


def test_counts_shared_and_one_sided_slots_and_their_hits():
    d = list_difference(A, B, TRUTH, k=3)
    # a: A {10, 11, 12} (99 is 4th), B {10, 14, 12}; b: A {10, 13}, B {15, 13}; c and d are not in both
    assert (d.users, d.k) == (2, 3)
    assert (d.shared, d.only_a, d.only_b) == (3, 2, 2)
    assert (d.hits_shared, d.hits_only_a, d.hits_only_b) == (0, 2, 2)
    assert d.overlap == pytest.approx(3 / 5)
    assert d.precision_only_a == d.precision_only_b == 1.0
    # a's one-sided hit 11 is worth 1/2 of a's recall, b's 14 too; b's: 10 (A) and 15 (B), 1/2 each
    assert d.recall_only_a == d.recall_only_b == pytest.approx((0.5 + 0.5) / 2)
    assert d.to_dict()["overlap"] == 0.6


def test_hits_agree_with_the_ranking_metrics():
    rng = np.random.default_rng(0)
    users = np.repeat(np.arange(30), 20)
    items = np.tile(np.arange(20), 30)
    a = pd.DataFrame({"user_id": users, "item_id": items, "score": rng.random(len(users))})
    b = pd.DataFrame({"user_id": users, "item_id": items, "score": rng.random(len(users))})
    truth = pd.DataFrame({"user_id": users, "item_id": items})[rng.random(len(users)) < 0.2]
    d = list_difference(a, b, truth, k=5)
    hits_a = per_user_ranking_metrics(truth, a, 5)["precision@5"] * 5
    hits_b = per_user_ranking_metrics(truth, b, 5)["precision@5"] * 5
    assert d.hits_shared + d.hits_only_a == round(hits_a.sum())
    assert d.hits_shared + d.hits_only_b == round(hits_b.sum())
    assert d.shared + d.only_a == d.shared + d.only_b == 5 * d.users
    recall_a = per_user_ranking_metrics(truth, a, 5)["recall@5"].mean()
    recall_b = per_user_ranking_metrics(truth, b, 5)["recall@5"].mean()
    assert d.recall_only_a - d.recall_only_b == pytest.approx(recall_a - recall_b)


def test_a_model_against_itself_shares_every_slot():
    d = list_difference(A, A, TRUTH, k=2)
    assert (d.only_a, d.only_b, d.overlap) == (0, 0, 1.0)
    assert d.precision_only_a == d.precision_only_b == 0.0  # nothing one-sided: no division by zero


def test_rank_column_works_without_scores():
    ranked = A.drop(columns="score").assign(rank=A.groupby("user_id").cumcount() + 1)
    assert list_difference(ranked, B, TRUTH, k=3) == list_difference(A, B, TRUTH, k=3)


def test_no_common_user_gives_zero_counts():
    d = list_difference(A[A.user_id == "d"], B, TRUTH)
    assert d == ListDifference(users=0, k=10, shared=0, only_a=0, only_b=0, hits_shared=0, hits_only_a=0, hits_only_b=0,
                               recall_only_a=0.0, recall_only_b=0.0)
    assert d.overlap == 0.0


@pytest.mark.parametrize("k", [0, -1, 2.5, True])
def test_refuses_a_bad_k(k):
    with pytest.raises(InputError, match="k must be a positive integer"):
        list_difference(A, B, TRUTH, k=k)


def test_names_a_missing_column():
    with pytest.raises(SchemaError, match="recs_b lacks column"):
        list_difference(A, B.rename(columns={"item_id": "product"}), TRUTH)
    with pytest.raises(SchemaError, match="truth lacks column"):
        list_difference(A, B, TRUTH.rename(columns={"user_id": "customer"}))
    with pytest.raises(SchemaError, match="needs a 'score' or 'rank' column"):
        list_difference(A.drop(columns="score"), B, TRUTH)


def test_says_it_in_words():
    text = list_difference(A, B, TRUTH, k=3).sentence("ease", "als")
    assert text.startswith("ease and als share 60% of their top-3 slots")
    assert "the items only ease recommends are held-out ones 100.0% of the time (2)" in text and "recall@3 0.5000 and 0.5000" in text
    assert list_difference(A, A, TRUTH, k=3).sentence("ease", "ease") == "ease and ease recommend the same top-3 lists"
