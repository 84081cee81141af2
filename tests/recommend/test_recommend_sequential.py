"""The self-attention next-item model learns an order that co-occurrence alone cannot tell."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from persona.data import Interactions
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
    data = Interactions.from_frame(_chains(), time="t")
    rec = make_recommender(
        "sequential", epochs=30, batch_size=16, dim=32, max_len=10, n_blocks=2, dropout=0.0, seed=1
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
