"""Cold start: segment, demographics, declared interests, trending fallback, side data for unknown users."""

from __future__ import annotations

import pandas as pd

from persona.data import Interactions
from persona.recommend import make_recommender

DAY = 86400


def _data() -> Interactions:
    rows = []
    # young users buy games, older users buy books; "vip" segment loves item lux; "old" item was hot long ago
    for u in range(20):
        young = u < 10
        for j in ["g1", "g2", "g3"] if young else ["b1", "b2", "b3"]:
            rows.append((f"u{u}", j, "purchase", 100 * DAY + u))
        if u in (3, 13, 17, 19, 4):
            rows.append((f"u{u}", "lux", "purchase", 100 * DAY))
    for u in range(20, 40):
        rows.append((f"u{u}", "old", "view", 0))
    events = pd.DataFrame(rows, columns=["user_id", "item_id", "event_type", "ts"])
    users = pd.DataFrame(
        {
            "user_id": [f"u{u}" for u in range(40)] + ["fresh_vip", "fresh_young", "fresh_fan"],
            "age": [20 + (u % 10) if u < 10 else 60 + (u % 10) for u in range(40)] + [None, 22, None],
            "segment": [("vip" if u in (3, 13, 17, 19, 4) else "std") for u in range(40)]
            + ["vip", None, None],
            "interests": [None] * 42 + [["Kitchen"]],
        }
    )
    items = pd.DataFrame(
        {
            "item_id": ["g1", "g2", "g3", "b1", "b2", "b3", "lux", "old", "pan"],
            "category": ["games"] * 3 + ["books"] * 3 + ["luxury", "misc", "kitchen"],
        }
    )
    return Interactions.from_frame(events, time="ts", event_type="event_type", users=users, items=items)


def test_users_without_history_use_their_side_data():
    data = _data()
    rec = make_recommender("itemknn").fit(data)
    vip = rec.recommend("fresh_vip", k=1)
    assert vip.loc[0, "item_id"] == "lux"
    assert vip.loc[0, "reason"] == "popular in your segment (vip)"
    young = rec.recommend("fresh_young", k=3)
    assert set(young["item_id"]) == {"g1", "g2", "g3"}
    assert (young["reason"] == "popular with customers like you").all()
    fan = rec.recommend("fresh_fan", k=2)
    assert fan.loc[0, "item_id"] == "pan"  # never bought by anyone, but a declared interest
    assert fan.loc[0, "reason"] == "matches your interest in kitchen"
    assert fan.loc[1, "reason"] == "trending now"


def test_unknown_user_trending_and_supplied_features():
    data = _data()
    rec = make_recommender("ease").fit(data)
    anon = rec.recommend("who", k=2)
    assert "old" not in set(anon["item_id"])  # popular long ago, decayed away
    assert (anon["reason"] == "trending now").all()
    feats = pd.DataFrame({"age": [65], "interests": [["books"]]}, index=["web-visitor-7"])
    out = rec.recommend("web-visitor-7", k=3, user_features=feats)
    assert set(out["item_id"]) == {"b1", "b2", "b3"}
    assert out["reason"].str.startswith("matches your interest in books").all()
    mapping = rec.recommend("v2", k=1, user_features={"v2": {"segment": "vip"}})
    assert mapping.loc[0, "item_id"] == "lux"


def test_a_declared_interest_matches_a_category_path_as_the_filters_do():
    data = _data()
    paths = {"games": "Games > Console", "books": "Books > Fiction"}
    items = data.items.assign(category=[paths.get(c, c) for c in data.items["category"]])
    rec = make_recommender("popular").fit(Interactions(data.matrix, data.user_ids, data.item_ids, data.log, items, data.users))
    for said in (["Books"], "books", ["fiction"]):
        out = rec.recommend("visitor", k=3, user_features={"visitor": {"interests": said}})
        assert set(out["item_id"]) == {"b1", "b2", "b3"}, said
        assert out["reason"].str.startswith("matches your interest in books > fiction").all()
    same = rec.recommend("visitor", k=3, filters={"categories_include": ["Books"]})
    assert set(same["item_id"]) == {"b1", "b2", "b3"}


def test_cold_users_respect_filters():
    data = _data()
    rec = make_recommender("popular").fit(data)
    out = rec.recommend("fresh_vip", k=3, filters={"categories_exclude": ["luxury"], "blocklist": ["g1"]})
    assert not {"lux", "g1"} & set(out["item_id"])
