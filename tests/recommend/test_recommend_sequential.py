"""The self-attention next-item model learns an order that co-occurrence alone cannot tell."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from persona.data import Interactions
from persona.errors import InputError
from persona.recommend import make_recommender
from persona.recommend.sequential import user_sequences

torch = pytest.importorskip("torch")


def _chains(n_users: int = 120, seed: int = 0) -> pd.DataFrame:
    """Each user walks a cycle of 12 items (0 → 1 → … → 11 → 0) from a random start."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        start = int(rng.integers(0, 12))
        for t in range(int(rng.integers(4, 9))):
            rows.append((f"u{u}", (start + t) % 12, t))
    return pd.DataFrame(rows, columns=["user_id", "item_id", "t"])


def test_user_sequences_are_time_ordered():
    df = pd.DataFrame({"user_id": ["a", "a", "a", "b"], "item_id": [3, 1, 2, 1], "t": [30, 10, 20, 5]})
    data = Interactions.from_frame(df, time="t")
    seqs = user_sequences(data)
    assert list(data.item_ids[seqs[0]]) == [1, 2, 3]


def test_sequential_predicts_the_next_item():
    data = Interactions.from_frame(_chains(), time="t")
    rec = make_recommender(
        "sequential", epochs=30, batch_size=16, dim=32, max_len=10, n_blocks=1, dropout=0.0, seed=1
    ).fit(data)
    assert rec.loss_history_[-1] < rec.loss_history_[0]
    out = rec.recommend(list(data.user_ids), k=1)
    seqs = user_sequences(data)
    expected = [(int(data.item_ids[s[-1]]) + 1) % 12 for s in seqs]
    hit = (out["item_id"].astype(int).to_numpy() == np.array(expected)).mean()
    assert hit > 0.8


def test_large_catalogues_train_on_sampled_negatives():
    # the same chains over 12 items, plus 3,000 items seen once each: above full_softmax_items the model
    # scores the true next item against sampled negatives, and still learns the order
    df = _chains()
    extra = pd.DataFrame({"user_id": [f"x{i}" for i in range(3000)], "item_id": np.arange(100, 3100), "t": 0})
    data = Interactions.from_frame(pd.concat([df, extra]), time="t")
    rec = make_recommender(
        "sequential", epochs=30, batch_size=16, dim=32, max_len=10, n_blocks=1, dropout=0.0, seed=1,
        full_softmax_items=1000, sampled_negatives=64,
    ).fit(data)
    assert rec.loss_history_[-1] < rec.loss_history_[0]
    users = [u for u in data.user_ids if str(u).startswith("u")]
    out = rec.recommend(users, k=1)
    seqs = user_sequences(data)
    idx = data.user_index(users)
    expected = [(int(data.item_ids[seqs[i][-1]]) + 1) % 12 for i in idx]
    assert (out["item_id"].astype(int).to_numpy() == np.array(expected)).mean() > 0.8
    with pytest.raises(Exception, match="sampled_negatives"):
        make_recommender("sequential", sampled_negatives=0).fit(data)


def test_short_histories_get_finite_scores_with_stacked_blocks():
    # every customer here has fewer items than max_len, so each sequence is left-padded; under the default two
    # blocks PyTorch's fused inference path once turned the fully masked padding rows into NaN, and the second
    # block spread it to every position: all scores NaN, lists in arbitrary order
    # (all 30 epochs: the check below ranks the raw scores, seen items included, which early stopping does not judge)
    data = Interactions.from_frame(_chains(), time="t")
    rec = make_recommender(
        "sequential", epochs=30, batch_size=16, dim=32, max_len=10, n_blocks=2, dropout=0.0, seed=1,
        early_stopping=False,
    ).fit(data)
    users = np.arange(data.n_users)
    fast = rec.score(users)
    assert np.isfinite(fast).all()
    was = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        plain = rec.score(users)
    finally:
        torch.backends.mha.set_fastpath_enabled(was)
    np.testing.assert_allclose(fast, plain, rtol=1e-4, atol=1e-4)
    seqs = user_sequences(data)
    expected = np.array([(int(data.item_ids[s[-1]]) + 1) % 12 for s in seqs])
    top = data.item_ids[fast.argmax(axis=1)].astype(int)
    assert (top == expected).mean() > 0.8


def test_early_stopping_keeps_the_best_epoch_and_stops_when_it_no_longer_improves():
    data = Interactions.from_frame(_chains(), time="t")
    rec = make_recommender(
        "sequential", epochs=200, batch_size=16, dim=32, max_len=10, n_blocks=1, dropout=0.0, seed=1, patience=2
    ).fit(data)
    assert len(rec.validation_history_) == len(rec.loss_history_) < 200
    assert len(rec.loss_history_) - rec.best_epoch_ == 2
    assert rec.validation_history_[rec.best_epoch_ - 1] == max(rec.validation_history_) > 0.8
    # the weights kept are the best epoch's: the held-out next items score as they did then
    _, held = rec._held_out(user_sequences(data), data.n_items, np.random.default_rng(rec.seed))
    assert held.ndcg(torch, rec._module()) == pytest.approx(max(rec.validation_history_), abs=1e-6)
    # the held-out items stay in each customer's history when recommending
    np.testing.assert_array_equal(rec.last_items_[:, -1], [s[-1] + 1 for s in user_sequences(data)])


def test_held_out_next_items_are_the_last_of_customers_with_three_items_or_more():
    df = pd.DataFrame({"user_id": ["a"] * 4 + ["b"] * 2, "item_id": [1, 2, 3, 4, 1, 2], "t": [1, 2, 3, 4, 1, 2]})
    data = Interactions.from_frame(df, time="t")
    rec = make_recommender("sequential", max_len=3)
    train, held = rec._held_out(user_sequences(data), data.n_items, np.random.default_rng(0))
    a, b = data.user_index(["a", "b"])
    assert list(data.item_ids[train[a]]) == [1, 2, 3] and len(train[b]) == 2
    assert list(data.item_ids[held.targets]) == [4]
    assert list(data.item_ids[held.inputs[0] - 1]) == [1, 2, 3]
    assert sorted(data.item_ids[held.seen[0].indices]) == [1, 2, 3]


def test_without_customers_to_hold_out_every_epoch_is_trained():
    df = pd.DataFrame({"user_id": [f"u{i // 2}" for i in range(40)], "item_id": [i % 7 for i in range(40)],
                       "t": np.arange(40)})
    data = Interactions.from_frame(df, time="t")
    rec = make_recommender("sequential", epochs=4, dim=16, max_len=4, n_blocks=1, seed=1).fit(data)
    assert len(rec.loss_history_) == 4 and rec.validation_history_ == [] and rec.best_epoch_ == 4


@pytest.mark.parametrize("params, word", [
    ({"patience": 0}, "patience"), ({"validation_users": 0}, "validation_users"),
    ({"early_stopping": "yes"}, "early_stopping"), ({"patience": True}, "patience"),
])
def test_bad_early_stopping_parameters_say_which(params, word):
    data = Interactions.from_frame(_chains(20), time="t")
    with pytest.raises(InputError, match=word):
        make_recommender("sequential", **params).fit(data)
