"""Popularity baselines: global counts, recency-decayed trending, per-segment."""

from __future__ import annotations

import pandas as pd
import pytest

from persona.data import Interactions
from persona.errors import InputError
from persona.recommend import make_recommender

DAY = 86400.0


def _data() -> Interactions:
    rows = []
    # item A: 5 users long ago; item B: 3 users yesterday; item C: 2 users, all in segment "vip"
    for u in range(5):
        rows.append((f"u{u}", "A", 0.0))
    for u in range(5, 8):
        rows.append((f"u{u}", "B", 100 * DAY))
    for u in (8, 9):
        rows.append((f"u{u}", "C", 50 * DAY))
    rows.append(("u10", "D", 100 * DAY))
    events = pd.DataFrame(rows, columns=["user_id", "item_id", "t"])
    users = pd.DataFrame(
        {
            "user_id": [f"u{u}" for u in range(11)],
            "segment": ["vip" if u in (8, 9, 10) else "std" for u in range(11)],
        }
    )
    return Interactions.from_frame(events, time="t", users=users)


def test_global_order_and_reason():
    rec = make_recommender("popular").fit(_data())
    out = rec.recommend(["u10"], k=3)
    assert list(out["item_id"]) == ["A", "B", "C"]
    assert set(out["reason"]) == {"popular with shoppers"}


def test_trending_prefers_recent():
    rec = make_recommender("popular", mode="trending", half_life_days=7).fit(_data())
    out = rec.recommend(["u10"], k=3)
    assert list(out["item_id"][:2]) == ["B", "C"]
    assert out["reason"].iloc[0] == "trending now"


def test_segment_mode():
    rec = make_recommender("popular", mode="segment").fit(_data())
    vip = rec.recommend(["u10"], k=1)
    assert vip.loc[0, "item_id"] == "C"
    assert vip.loc[0, "reason"] == "popular in your segment (vip)"
    std = rec.recommend(["u0"], k=1)
    assert std.loc[0, "item_id"] == "B"  # A already seen; B is next among "std" users


def test_segment_mode_without_a_segment_says_it_ranks_by_global_popularity():
    data = _data()
    events = pd.DataFrame({"user_id": data.user_ids[data.log["user_idx"]], "item_id": data.item_ids[data.log["item_idx"]]})
    no_column = make_recommender("popular", mode="segment").fit(Interactions.from_frame(events))
    users = pd.DataFrame({"user_id": [f"u{u}" for u in range(11)], "segment": [None] + ["std"] * 10})
    one_missing = make_recommender("popular", mode="segment").fit(Interactions.from_frame(events, users=users))
    for rec in (no_column, one_missing):
        out = rec.recommend(["u0"], k=2)
        assert list(out["item_id"]) == ["B", "C"] and set(out["reason"]) == {"popular with shoppers"}
    assert set(one_missing.recommend(["u1"], k=2)["reason"]) == {"popular in your segment (std)"}


def test_bad_mode():
    with pytest.raises(InputError, match="mode"):
        make_recommender("popular", mode="viral").fit(_data())
