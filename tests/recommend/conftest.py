"""Synthetic shop data for recommender tests: two taste groups, categories, prices, stock, events, segments."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from persona.data import Interactions

N_USERS = 60
N_ITEMS = 40


def toy_frames(seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Events, items and users: users u0..u29 like 'books' (items 0-19), u30..u59 like 'games' (20-39)."""
    rng = np.random.default_rng(seed)
    items = pd.DataFrame(
        {
            "item_id": [f"i{j}" for j in range(N_ITEMS)],
            "title": [
                (f"novel story book {j}" if j < 20 else f"arcade video game {j}")
                + (" deluxe" if j % 5 == 0 else "")
                for j in range(N_ITEMS)
            ],
            "category": ["books" if j < 20 else "games" for j in range(N_ITEMS)],
            "brand": [f"b{j % 4}" for j in range(N_ITEMS)],
            "price": [5.0 + j for j in range(N_ITEMS)],
            "in_stock": [j % 7 != 3 for j in range(N_ITEMS)],
        }
    )
    users = pd.DataFrame(
        {
            "user_id": [f"u{u}" for u in range(N_USERS)],
            "segment": ["readers" if u < 30 else "gamers" for u in range(N_USERS)],
            "gender": ["f" if u % 2 else "m" for u in range(N_USERS)],
            "age": [20 + (u * 7) % 50 for u in range(N_USERS)],
        }
    )
    rows = []
    types = ["view", "view", "click", "add_to_cart", "purchase"]
    t0 = 1_700_000_000
    for u in range(N_USERS):
        home = np.arange(0, 20) if u < 30 else np.arange(20, 40)
        # popular items in each group are the low indices; each user sees 8-12 of them
        p = 1.0 / (1 + np.arange(20))
        p = p / p.sum()
        chosen = rng.choice(home, size=int(rng.integers(8, 13)), replace=False, p=p)
        stray = rng.choice(np.setdiff1d(np.arange(N_ITEMS), home), size=1)
        for n, j in enumerate(np.concatenate([chosen, stray])):
            kind = types[int(rng.integers(0, 5))]
            stars = None
            if kind == "purchase" and (u + int(j)) % 2 == 0:  # some products are rated instead: 4-5 stars at home,
                kind, stars = "rating", float(4 + u % 2 if j in home else 1 + u % 2)  # 1-2 for the stray one
            rows.append((f"u{u}", f"i{j}", kind, t0 + u * 1000 + n * 60 + int(j), stars))
    events = pd.DataFrame(rows, columns=["user_id", "item_id", "event_type", "ts", "value"])
    return events, items, users


@pytest.fixture(scope="session")
def toy() -> Interactions:
    events, items, users = toy_frames()
    return Interactions.from_frame(events, weight="value", time="ts", event_type="event_type", items=items, users=users)


# Small settings so that the slow models stay fast on toy data (contract tests check behaviour, not quality).
FAST_PARAMS: dict[str, dict] = {
    "als": {"factors": 8, "iterations": 5},
    "bpr": {"factors": 8, "iterations": 20},
    "sequential": {"epochs": 2, "dim": 16, "max_len": 10},
    "repeat": {"base": "itemknn"},
}


@pytest.fixture(scope="session")
def fast_params() -> dict[str, dict]:
    return FAST_PARAMS


@pytest.fixture(scope="session")
def taste_groups() -> Interactions:
    """40 users in two taste groups: even users pick among items i0–i9, odd users among i10–i19."""
    rows = []
    for u in range(40):
        home = range(10) if u % 2 == 0 else range(10, 20)
        rows += [(f"u{u}", f"i{j}") for j in home if (u + j) % 3]
    return Interactions.from_frame(pd.DataFrame(rows, columns=["user_id", "item_id"]))

