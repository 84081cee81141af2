"""The repeat model: a customer's own products against a discovery model's list, on one learned scale."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from persona.data import Interactions
from persona.errors import InputError
from persona.evaluate.offline import evaluate_recommender
from persona.evaluate.selection import split_interactions
from persona.recommend import make_recommender
from persona.recommend.repeat import RepeatRecommender, temporal_holdout


def returning_shop(n_users: int = 80, n_items: int = 60, events: int = 30, p_back: float = 0.6,
                   seed: int = 3) -> Interactions:
    """Customers keep coming back to the few products they like (with ``p_back``) between new finds."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        group = np.arange(0, n_items // 2) if u % 2 else np.arange(n_items // 2, n_items)
        liked: list[int] = []
        for n in range(events):
            if liked and rng.random() < p_back:
                j = int(rng.choice(liked[-4:]))
            else:
                j = int(rng.choice(group))
                if rng.random() < 0.5:
                    liked.append(j)
            rows.append((f"u{u}", f"i{j}", "view", 1_700_000_000 + u * 10_000 + n * 60))
    df = pd.DataFrame(rows, columns=["user_id", "item_id", "event_type", "ts"])
    items = pd.DataFrame({"item_id": [f"i{j}" for j in range(n_items)],
                          "category": ["a" if j < n_items // 2 else "b" for j in range(n_items)]})
    return Interactions.from_frame(df, time="ts", event_type="event_type", items=items)


def test_temporal_holdout_keeps_each_users_latest_events(toy):
    inner, truth = temporal_holdout(toy, 0.25)
    lg = toy.log
    for u in range(toy.n_users):
        ev = lg[lg["user_idx"] == u].sort_values("time", kind="stable")
        n_out = int(round(0.25 * len(ev))) if len(ev) >= 3 else 0
        assert set(truth[u].indices) == set(ev["item_idx"].iloc[len(ev) - n_out:]) if n_out else truth[u].nnz == 0
        assert inner.matrix[u].nnz == ev["item_idx"].iloc[: len(ev) - n_out].nunique()
    assert len(inner.log) + truth.nnz <= len(lg) and inner.n_items == toy.n_items


def test_learns_that_customers_come_back_and_puts_their_products_first():
    data = returning_shop()
    m = RepeatRecommender(base="category").fit(data)
    seen_curve, new_curve = m.curves_["seen"], m.curves_["new"]
    assert seen_curve[0] > 3 * new_curve[0]
    assert all(a >= b for a, b in zip(seen_curve, seen_curve[1:], strict=False))  # isotonic: never rises
    out = m.recommend(list(data.user_ids), k=5, exclude_seen=False)
    seen = {(data.user_ids[u], data.item_ids[i]) for u, i in zip(*data.matrix.nonzero(), strict=True)}
    first = out[out["rank"] == 1]
    assert np.mean([(u, i) in seen for u, i in zip(first["user_id"], first["item_id"], strict=True)]) > 0.9
    assert first["reason"].str.match(r"you viewed this (recently|and came back \d+ times?)$").all()


def test_beats_its_discovery_model_when_repeats_count():
    data = returning_shop()
    train, test = split_interactions(data, "temporal", repeats=True)
    base = evaluate_recommender(make_recommender("category"), train, test, k=5, exclude_seen=False)
    rep = evaluate_recommender(RepeatRecommender(base="category"), train, test, k=5, exclude_seen=False)
    assert rep.metrics["ndcg@5"] > base.metrics["ndcg@5"] + 0.2
    # a test without repeats has only new items: the two lists are the same there
    train2, test2 = split_interactions(data, "temporal")
    assert len(test2) < len(test)


def test_a_shop_where_nobody_comes_back_keeps_the_discovery_list(toy):
    # every customer touches each toy product once: what they saw never comes back, so new products lead
    m = RepeatRecommender(base="itemknn").fit(toy)
    assert m.curves_["seen"][0] == pytest.approx(0.0, abs=1e-9)
    out = m.recommend(list(toy.user_ids), k=3, exclude_seen=False)
    seen = {(toy.user_ids[u], toy.item_ids[i]) for u, i in zip(*toy.matrix.nonzero(), strict=True)}
    assert not any((u, i) in seen for u, i in zip(out["user_id"], out["item_id"], strict=True))


def test_without_seen_items_the_list_is_the_base_models(toy, fast_params):
    m = RepeatRecommender(base="als", base_params=fast_params["als"]).fit(toy)
    base = make_recommender("als", **fast_params["als"]).fit(toy)
    users = list(toy.user_ids)
    a = m.recommend(users, k=8, reasons=False)
    b = base.recommend(users, k=8, reasons=False)
    assert a[["user_id", "item_id", "rank"]].equals(b[["user_id", "item_id", "rank"]])
    assert m.recommend(users[:3], k=4)["reason"].str.len().gt(0).all()


@pytest.mark.parametrize("params, match", [
    ({"base": "repeat"}, "discovery model"),
    ({"recency_tau": 0}, "recency_tau"),
    ({"recency_tau": True}, "recency_tau"),
    ({"validation_fraction": 1.0}, "validation_fraction"),
    ({"depth": 0}, "depth"),
    ({"seen_ranker": "latest"}, "seen_ranker"),
])
def test_bad_parameters(toy, params, match):
    with pytest.raises(InputError, match=match):
        RepeatRecommender(**params).fit(toy)


def test_needs_event_times():
    df = pd.DataFrame({"user_id": ["a", "a", "a", "b", "b", "b"], "item_id": ["x", "y", "x", "y", "z", "y"]})
    data = Interactions.from_frame(df)
    assert RepeatRecommender().unfit_reason(data) == "needs event timestamps"
    with pytest.raises(InputError, match="needs event timestamps") as exc:
        RepeatRecommender(base="popular").fit(data)
    assert exc.value.hint


def test_reasons_name_the_strongest_thing_the_customer_did():
    df = pd.DataFrame({"user_id": ["a"] * 6 + ["b"] * 6,
                       "item_id": ["x", "x", "y", "z", "x", "w", "x", "y", "y", "z", "w", "y"],
                       "event_type": ["view", "add_to_cart", "view", "wishlist", "view", "view"] * 2,
                       "ts": list(range(12))})
    data = Interactions.from_frame(df, time="ts", event_type="event_type")
    m = RepeatRecommender(base="popular").fit(data)
    out = m.recommend(["a"], k=4, exclude_seen=False)
    why = dict(zip(out["item_id"], out["reason"], strict=True))
    assert why["x"] == "you put this in your cart and came back 2 times"
    assert why["z"] == "you saved this recently" and why["y"] == "you viewed this recently"


def replenishing_shop(n_users: int = 60, n_items: int = 400, events: int = 40, seed: int = 5) -> Interactions:
    """Every fifth event a customer comes back to their *oldest* product not yet revisited (a refill), the
    other events are new products: the opposite of "the latest product comes back first"."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        fresh = iter(rng.permutation(n_items).tolist())
        waiting: list[int] = []
        for n in range(events):
            if n % 5 == 4 and waiting:
                j = waiting.pop(0)
            else:
                j = next(fresh)
                waiting.append(j)
            rows.append((f"u{u}", f"i{j}", "view", 1_700_000_000 + u * 10_000 + n * 60))
    return Interactions.from_frame(pd.DataFrame(rows, columns=["user_id", "item_id", "event_type", "ts"]),
                                   time="ts", event_type="event_type")


def test_the_learned_ranker_finds_which_products_come_back():
    data = replenishing_shop()
    train, test = split_interactions(data, "temporal", repeats=True)
    scores = {}
    for ranker in ("learned", "interest"):
        m = RepeatRecommender(base="popular", seen_ranker=ranker)
        scores[ranker] = evaluate_recommender(m, train, test, k=5, exclude_seen=False).metrics["ndcg@5"]
    assert scores["learned"] > scores["interest"] + 0.1, scores
    m = RepeatRecommender(base="popular").fit(data)
    assert m.propensity_ is not None and m.validation_["comebacks"] >= 20
    chance = m.seen_chance_.data
    assert ((chance > 0) & (chance < 1)).all()


def test_too_few_comebacks_fall_back_to_the_interest_places(toy):
    m = RepeatRecommender(base="itemknn").fit(toy)
    assert m.propensity_ is None and m.seen_chance_ is None


def test_fit_around_keeps_the_fitted_discovery_model_and_its_exact_lists():
    data = returning_shop()
    base = make_recommender("itemknn").fit(data)
    m = RepeatRecommender().fit_around(base, data)
    assert m.base_ is base and m.base == "itemknn" and m.base_params == base.get_params()
    users = list(data.user_ids[:12])
    for kw in ({}, {"diversity": 0.5}, {"max_per_category": 1}, {"filters": {"blocklist": ["i1", "i2"]}}):
        pd.testing.assert_frame_equal(m.recommend(users, k=6, **kw), base.recommend(users, k=6, **kw))
    again = m.recommend(users, k=6, exclude_seen=False)
    seen = {(data.user_ids[u], data.item_ids[i]) for u, i in zip(*data.matrix.nonzero(), strict=True)}
    assert np.mean([(u, i) in seen for u, i in zip(again["user_id"], again["item_id"], strict=True)]) > 0.5


def test_fit_around_refuses_a_model_fitted_elsewhere(toy):
    other = returning_shop()
    with pytest.raises(InputError, match="same Interactions"):
        RepeatRecommender().fit_around(make_recommender("popular").fit(other), toy)
    inner = RepeatRecommender(base="popular").fit(other)
    with pytest.raises(InputError, match="same Interactions"):
        RepeatRecommender().fit_around(inner, other)


def test_the_hybrid_base_learns_its_blend_once_and_is_refitted_frozen_on_the_validation_split(monkeypatch):
    from persona.recommend.hybrid import HybridRecommender

    learned: list[int] = []
    real = HybridRecommender._learn

    def counting(self, data, specs):
        learned.append(data.nnz)
        return real(self, data, specs)

    monkeypatch.setattr(HybridRecommender, "_learn", counting)
    data = returning_shop()
    rec = RepeatRecommender(base="hybrid", base_params={"models": ["itemknn", "popular"]}).fit(data)
    assert learned == [data.nnz]  # the blend is learned on all the data only
    assert rec.curves_["new"][0] > 0
    # the validation split's base carries the same members, weights and recency decay, fixed
    frozen = rec.base_.frozen()
    assert frozen.weights == rec.base_.weights_ and frozen.models == rec.base_.params_
    assert frozen.recency_tau == rec.base_.recency_tau_ and not hasattr(frozen, "weights_")
