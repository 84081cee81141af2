"""Period popularity: counts inside each user's (widened) active time window, global popularity without time."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from persona.data import Interactions
from persona.errors import InputError
from persona.recommend import make_recommender


def _two_eras() -> Interactions:
    """Early users (t < 100) all take 'old'; late users (t >= 1000) all take 'new'; 'mid' is rare."""
    rows = []
    for u in range(10):
        rows += [(f"e{u}", "old", u), (f"e{u}", f"x{u}", u)]
        rows += [(f"l{u}", "new", 1000 + u), (f"l{u}", f"y{u}", 1000 + u)]
    rows += [("e0", "mid", 500)]
    return Interactions.from_frame(pd.DataFrame(rows, columns=["user_id", "item_id", "ts"]), time="ts")


def test_counts_follow_the_users_active_period():
    data = _two_eras()
    rec = make_recommender("period", window=0.2).fit(data)  # 41 events: 4 added on each side
    early, late = data.user_index(["e3", "l3"])
    old, new = data.item_index(["old", "new"])
    s = rec.score(np.array([early, late]))
    # e3's two events (t=3) widened by 4 events each side span t=1..5: five takes of 'old', none of 'new'
    assert s[0, old] == pytest.approx(np.log1p(5)) and s[0, new] == 0.0
    assert s[1, new] == pytest.approx(np.log1p(5)) and s[1, old] == 0.0
    # l3 already has 'new': next come items of late users, never the early era's
    top = rec.recommend(["l3"], k=3)["item_id"].tolist()
    assert all(i.startswith("y") for i in top)


def test_window_widens_and_untimed_data_falls_back_to_global():
    data = _two_eras()
    wide = make_recommender("period", window=1.0).fit(data)
    e = data.user_index(["e3"])
    old, new = data.item_index(["old", "new"])
    s = wide.score(e)
    # half the log on each side: all of the early era and the start of the late one
    assert s[0, old] == pytest.approx(np.log1p(10)) and 0 < s[0, new] < np.log1p(10)
    frame = pd.DataFrame({"user_id": ["a", "b", "b"], "item_id": ["p", "p", "q"]})
    flat = make_recommender("period").fit(Interactions.from_frame(frame))
    np.testing.assert_allclose(flat.score(np.array([0])), [[np.log1p(2), np.log1p(1)]])
    for bad in (0, 1.5, "x"):
        with pytest.raises(InputError):
            make_recommender("period", window=bad).fit(data)
