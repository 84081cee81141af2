"""Adjacent items: counts of items picked next to each other in time, normalised, top-k per item."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from persona.data import Interactions
from persona.errors import InputError
from persona.recommend import make_recommender
from persona.recommend.adjacent import adjacency_counts, timed_adjacency


def test_counts_by_distance_in_each_users_time_order():
    # user 0 (given out of time order): a b c d; user 1: d a (ties in time keep the given order)
    users = np.array([0, 0, 0, 0, 1, 1])
    items = np.array([2, 0, 3, 1, 3, 0])
    times = np.array([20.0, 10.0, 40.0, 30.0, 5.0, 5.0])
    c = adjacency_counts(users, items, times, 4, window=2).toarray()
    # a pair d apart adds 1 - d/3 both ways; each event adds 1 to its item's diagonal
    expect = np.diag([2.0, 1.0, 1.0, 2.0])
    for a, b, w in [(0, 2, 2 / 3), (2, 1, 2 / 3), (1, 3, 2 / 3), (0, 1, 1 / 3), (2, 3, 1 / 3), (3, 0, 2 / 3)]:
        expect[a, b] += w
        expect[b, a] += w
    np.testing.assert_allclose(c, expect)
    # window 1 keeps only neighbours, at weight 1/2
    one = np.diag([2.0, 1.0, 1.0, 2.0])
    for a, b in [(0, 2), (2, 1), (1, 3), (3, 0)]:
        one[a, b] = one[b, a] = 0.5
    np.testing.assert_allclose(adjacency_counts(users, items, times, 4, window=1).toarray(), one)
    assert np.all(np.linalg.eigvalsh(c) > -1e-12)  # a Gram matrix: positive semi-definite


def test_dense_and_batched_sparse_counting_agree(monkeypatch):
    import persona.recommend.adjacent as adjacent

    rng = np.random.default_rng(3)
    users, items, times = rng.integers(0, 40, 3000), rng.integers(0, 60, 3000), rng.integers(0, 500, 3000)
    dense = adjacency_counts(users, items, times, 60, 7).toarray()
    monkeypatch.setattr(adjacent, "DENSE_ADJACENCY_CELLS", 0)  # the large-catalogue path
    monkeypatch.setattr(adjacent, "ADJACENCY_BATCH", 500)  # several batches
    sparse = adjacency_counts(users, items, times, 60, 7).toarray()
    assert np.allclose(dense, sparse) and np.allclose(dense, dense.T)
    # brute force: every pair of one user's events at most 7 apart, in time order
    order = np.lexsort((times, users))
    u, i = users[order], items[order]
    keep = np.concatenate([[True], (u[1:] != u[:-1]) | (i[1:] != i[:-1])])
    u, i = u[keep], i[keep]
    want = np.zeros((60, 60))
    np.add.at(want, (i, i), 1.0)
    for a in range(len(u)):
        for b in range(a + 1, min(a + 8, len(u))):
            if u[a] == u[b]:
                want[i[a], i[b]] += 1 - (b - a) / 8
                want[i[b], i[a]] += 1 - (b - a) / 8
    assert np.allclose(dense, want)


def test_repeats_of_one_item_in_a_row_are_one_step():
    # view, cart and purchase of item 1 between 0 and 2: 0-1 and 1-2 are neighbours, 0-2 two steps apart
    users = np.zeros(5, dtype=np.int64)
    items = np.array([0, 1, 1, 1, 2])
    times = np.arange(5, dtype=np.float64)
    c = adjacency_counts(users, items, times, 3, window=2).toarray()
    assert c[0, 1] == pytest.approx(2 / 3) and c[1, 2] == pytest.approx(2 / 3) and c[0, 2] == pytest.approx(1 / 3)
    np.testing.assert_allclose(np.diag(c), 1.0)


def _sessions() -> Interactions:
    """Forty users; each picks one of four (lead, partner) pairs back to back, and filler items hours apart."""
    rng = np.random.default_rng(3)
    rows = []
    for u in range(40):
        pair = u % 4
        t = 0
        for f in rng.choice(8, size=3, replace=False):
            rows.append((f"u{u}", f"f{f}", t))
            t += 3600
        rows += [(f"u{u}", f"lead{pair}", t), (f"u{u}", f"partner{pair}", t + 30)]
        for f in rng.choice(8, size=2, replace=False):
            t += 3600
            rows.append((f"u{u}", f"g{f}", t))
    rows.append(("new", "lead2", 10**6))
    return Interactions.from_frame(pd.DataFrame(rows, columns=["user_id", "item_id", "ts"]), time="ts")


def test_recommends_what_others_picked_right_after_and_explains_it():
    data = _sessions()
    rec = make_recommender("adjacent").fit(data)
    top = rec.recommend(["new"], k=1)
    assert top["item_id"].tolist() == ["partner2"]
    assert "lead2" in top["reason"].iloc[0]
    w = rec.similarity_
    lead, partner = data.item_index(["lead2", "partner2"])
    # W = C / (n_i^alpha · n_j^(1 - alpha)), alpha 0.5: 10 neighbouring pairs at weight 10/11, over sqrt(11 · 10)
    assert w[lead, partner] == pytest.approx(10 * 10 / 11 / np.sqrt(11 * 10), rel=1e-5)
    assert w[lead, lead] == 0.0
    sim = rec.similar_items(["lead2"], k=1)
    assert sim["similar_item_id"].tolist() == ["partner2"]


def test_keeps_k_neighbours_per_item():
    data = _sessions()
    rec = make_recommender("adjacent", k=2, window=10).fit(data)
    assert np.diff(rec.similarity_.indptr).max() <= 2
    full = make_recommender("adjacent", window=10).fit(data)
    assert np.diff(full.similarity_.indptr).max() > 2


def test_untimed_data_and_bad_parameters_are_refused_with_a_hint():
    flat = Interactions.from_frame(pd.DataFrame({"user_id": ["a", "a", "b"], "item_id": ["p", "q", "p"]}))
    with pytest.raises(InputError, match="timestamps") as exc:
        make_recommender("adjacent").fit(flat)
    assert "itemknn" in exc.value.hint
    data = _sessions()
    for bad in ({"window": 0}, {"window": 2.5}, {"k": 0}, {"alpha": 1.5}, {"alpha": "x"}):
        with pytest.raises(InputError):
            make_recommender("adjacent", **bad).fit(data)


def test_local_ease_is_ease_on_the_windowed_gram_matrix():
    data = _sessions()
    lam = 4.0
    rec = make_recommender("ease-local", window=3, lambda_=lam, dropout=0.0).fit(data)
    gram = timed_adjacency(data, 3).toarray()
    p = np.linalg.inv(gram + lam * np.eye(data.n_items))
    b = np.eye(data.n_items) - p / np.diag(p)
    np.testing.assert_allclose(rec.B_, b, atol=1e-5)
    x = (data.matrix.toarray() > 0).astype(float)
    np.testing.assert_allclose(rec.score(np.arange(data.n_users)), x @ b, atol=1e-4)
    # the default solves DLAE's form: Λ = p/(1-p)·diag(G) + λ, B = I - P·Λ
    dl = make_recommender("ease-local", window=3, lambda_=lam).fit(data)
    penalty = 0.5 / 0.5 * np.diag(gram) + lam
    np.testing.assert_allclose(dl.B_, np.eye(data.n_items) - np.linalg.inv(gram + np.diag(penalty)) * penalty[None, :],
                               atol=1e-5)
    # the pair picked back to back beats items picked by the same customers hours apart
    top = rec.recommend(["new"], k=1, reasons=True)
    assert top["item_id"].tolist() == ["partner2"] and "lead2" in top["reason"].iloc[0]
    # every customer of 'lead' also took 'far', five events later; half took 'next' right after 'lead':
    # plain EASE follows the whole history ('far'), the local one what was picked next to it ('next')
    rows = []
    for u in range(12):
        rows += [(f"c{u}", "lead", 0)] + ([(f"c{u}", "next", 1)] if u % 2 else [])
        rows += [(f"c{u}", f"pad{(u + j) % 6}", 2 + j) for j in range(4)] + [(f"c{u}", "far", 9)]
        rows += [(f"o{u}", f"pad{(u + j) % 6}", j) for j in range(4)]  # others: pads only
    rows.append(("newbie", "lead", 20))
    shop = Interactions.from_frame(pd.DataFrame(rows, columns=["user_id", "item_id", "ts"]), time="ts")
    assert make_recommender("ease", lambda_=1.0).fit(shop).recommend(["newbie"], k=1)["item_id"].tolist() == ["far"]
    for dropout in (0.0, 0.5):
        local = make_recommender("ease-local", window=2, lambda_=1.0, dropout=dropout).fit(shop)
        assert local.recommend(["newbie"], k=1)["item_id"].tolist() == ["next"]
    flat = Interactions.from_frame(pd.DataFrame({"user_id": ["a", "a", "b"], "item_id": ["p", "q", "p"]}))
    with pytest.raises(InputError, match="timestamps"):
        make_recommender("ease-local").fit(flat)
    for bad in ({"window": 0}, {"window": "20"}, {"lambda_": 0}, {"dropout": 1.0}):
        with pytest.raises(InputError):
            make_recommender("ease-local", **bad).fit(data)


@pytest.mark.parametrize("name", ["adjacent", "ease-local"])
def test_recent_history_members_in_the_hybrid(name):
    from persona.recommend.hybrid import HybridRecommender, _zscore, recency_history

    data = _sessions()
    hy = HybridRecommender(models=[name], weights={name + "~recent": 1.0}, recency_tau=0.5).fit(data)
    base = hy.models_[name]
    mat = base.B_ if name == "ease-local" else base.similarity_.toarray()
    users = np.arange(data.n_users)
    expect = _zscore(np.asarray(recency_history(data, 0.5) @ mat, dtype=np.float32), data.matrix[users])
    np.testing.assert_allclose(hy.score(users), expect, atol=1e-4)
