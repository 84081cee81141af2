"""Category affinity: P(category | customer, recency-weighted) × P(item | category), with reasons naming the category."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from persona.data import Interactions
from persona.errors import InputError
from persona.recommend import make_recommender
from persona.recommend.category import CategoryRecommender, has_categories, recency_weights

ITEMS = pd.DataFrame({
    "item_id": ["s1", "s2", "s3", "t1", "t2", "g1"],
    "category": ["shoes", "shoes", "shoes", "tents", "tents", "games"],
})


def _shop() -> Interactions:
    """Shoes: s1 bought by 3 customers, s2 by 1, s3 by none (new); tents: t1 by 2; games: g1 by 1.

    Customer 'a' viewed shoes long ago (twice) and a tent lately; 'b' and 'c' shop shoes.
    """
    rows = [
        ("a", "s1", 1), ("a", "s2", 2), ("a", "t2", 100),
        ("b", "s1", 5), ("b", "t1", 6), ("c", "s1", 7), ("c", "g1", 8), ("d", "t1", 9),
    ]
    df = pd.DataFrame(rows, columns=["user_id", "item_id", "ts"])
    return Interactions.from_frame(df, time="ts", items=ITEMS, item_ids=ITEMS["item_id"].to_numpy())


def test_scores_are_the_log_of_category_share_times_item_share():
    data = _shop()
    rec = make_recommender("category", recency_tau=None, prior=1.0).fit(data)
    a = int(data.user_index("a")[0])
    # a's events: shoes 2, tents 1; shop-wide mix over the 8 events: shoes 4, tents 3, games 1
    mix = np.array([4, 3, 1]) / 8.0
    shares = (np.array([2, 1, 0]) + mix) / (3 + 1.0)
    cats = rec.category_names_
    assert rec.category_shares(np.array([a]))[0] == pytest.approx([shares[cats.index(c)] for c in ("shoes", "tents", "games")])
    # P(item | category): (customers + 1) / (category customers + category size); shoes: 3+1+0 customers, 3 items
    s = rec.score(np.array([a]))[0]
    s1, s3, t1 = data.item_index(["s1", "s3", "t1"])
    assert s[s1] == pytest.approx(np.log(shares[0]) + np.log(4 / 7), rel=1e-5)
    assert s[s3] == pytest.approx(np.log(shares[0]) + np.log(1 / 7), rel=1e-5)  # a new product keeps a chance
    assert s[t1] == pytest.approx(np.log(shares[1]) + np.log(3 / 5), rel=1e-5)


def test_recent_categories_lead_and_best_sellers_lead_within_a_category():
    data = _shop()
    flat = make_recommender("category", recency_tau=None).fit(data)
    recent = make_recommender("category", recency_tau=0.25).fit(data)
    # unseen for 'a': s3 (shoes, new), t1 (tents, 2 customers), g1 (games)
    assert recent.recommend("a", k=1)["item_id"].tolist() == ["t1"]  # the latest event was a tent
    a = int(data.user_index("a")[0])
    sh_flat, sh_recent = flat.category_shares(np.array([a]))[0], recent.category_shares(np.array([a]))[0]
    tents = flat.category_names_.index("tents")
    assert sh_recent[tents] > sh_flat[tents]
    b = make_recommender("category").fit(data).recommend("d", k=3)["item_id"].tolist()
    assert b[0] == "t2"  # d shops tents: the unseen tent comes first


def test_recency_weights_decay_with_later_events_per_user():
    u = np.array([0, 0, 0, 1, 1])
    t = np.array([3.0, 1.0, 2.0, 5.0, 5.0])
    w = recency_weights(u, t, 0.5)
    # user 0 in time order: t=1 (2 later events), t=2 (1), t=3 (0); n = 3
    assert w[:3] == pytest.approx([1.0, np.exp(-2 / 1.5), np.exp(-1 / 1.5)])
    assert w[3:] == pytest.approx([np.exp(-1 / 1.0), 1.0])  # ties keep log order
    assert (recency_weights(u, None, 0.5) == 1).all() and (recency_weights(u, t, None) == 1).all()


def test_reasons_name_the_category_and_similar_items_share_it():
    rec = make_recommender("category").fit(_shop())
    out = rec.recommend("d", k=2)
    assert out["reason"].iloc[0] == "popular in tents, a category you shop"
    sim = rec.similar_items("s2", k=2)
    assert sim["similar_item_id"].tolist() == ["s1", "s3"]
    assert sim["reason"].iloc[0] == "popular in the same category as s2"


def test_missing_categories_and_bad_parameters_are_refused():
    df = pd.DataFrame({"user_id": ["a", "b"], "item_id": ["x", "y"]})
    with pytest.raises(InputError, match="needs a product 'category'") as exc:
        make_recommender("category").fit(Interactions.from_frame(df))
    assert "category" in (exc.value.hint or "")
    for bad in ({"recency_tau": 0}, {"recency_tau": "soon"}, {"prior": -1}, {"prior": True}, {"column": ""}):
        with pytest.raises(InputError):
            CategoryRecommender(**bad).fit(_shop())


def test_products_without_a_category_share_one_group():
    items = ITEMS.assign(category=ITEMS["category"].where(ITEMS["item_id"] != "g1"))
    df = pd.DataFrame([("a", "s1", 1), ("b", "g1", 2), ("b", "t1", 3)], columns=["user_id", "item_id", "ts"])
    rec = make_recommender("category").fit(Interactions.from_frame(df, time="ts", items=items))
    assert "(no category)" in rec.category_names_
    assert np.isfinite(rec.score(np.arange(2))).all()


def test_the_hybrid_blends_categories_only_when_the_catalogue_has_them():
    hybrid = make_recommender("hybrid")
    assert "category" in hybrid._base_specs(_shop())
    df = pd.DataFrame({"user_id": ["a", "b"], "item_id": ["x", "y"], "ts": [1, 2]})
    plain = Interactions.from_frame(df, time="ts")
    assert not has_categories(plain) and "category" not in hybrid._base_specs(plain)


def test_any_item_column_groups_products_for_example_brands():
    items = ITEMS.assign(brand=["acme", "acme", "zeta", "zeta", "zeta", "acme"])
    df = pd.DataFrame([("a", "s1", 1), ("a", "g1", 2), ("b", "s3", 3), ("b", "t1", 4), ("c", "t1", 5)],
                      columns=["user_id", "item_id", "ts"])
    data = Interactions.from_frame(df, time="ts", items=items)
    rec = make_recommender("category", column="brand", recency_tau=None).fit(data)
    out = rec.recommend("a", k=1)
    assert out["item_id"].tolist() == ["s2"] and out["reason"].iloc[0] == "popular in acme, a brand you shop"
    assert rec.similar_items("s1", k=1)["reason"].iloc[0] == "popular in the same brand as s1"
    assert has_categories(data, "brand") and not has_categories(data, "colour")
    with pytest.raises(InputError, match="needs a product 'colour'") as exc:
        make_recommender("category", column="colour").fit(data)
    assert "brand" in exc.value.hint
    empty = Interactions.from_frame(df, time="ts", items=items.assign(colour=None))
    with pytest.raises(InputError, match="needs a product 'colour'") as exc:
        make_recommender("category", column="colour").fit(empty)
    assert "colour" not in exc.value.hint.split("values here:")[1]  # an all-empty column is not offered
