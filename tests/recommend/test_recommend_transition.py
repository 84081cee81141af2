"""Item transitions: (latest items → next items) rows in each customer's time order, solved in closed form."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from persona.data import Interactions
from persona.errors import InputError
from persona.recommend import make_recommender
from persona.recommend.adjacent import timed_paths
from persona.recommend.transition import TransitionRecommender, shifted_rows


def _frame(rows: list[tuple[str, str, float | None]]) -> Interactions:
    return Interactions.from_frame(pd.DataFrame(rows, columns=["user_id", "item_id", "ts"]), time="ts")


def test_time_order_drops_repeats_in_a_row_and_untimed_events():
    # u1's events given out of time order, a repeat of b in a row, one event without a time
    data = _frame([("u1", "c", 30.0), ("u1", "a", 10.0), ("u1", "b", 20.0), ("u1", "b", 25.0),
                   ("u2", "a", 5.0), ("u2", "z", None), ("u2", "c", 7.0)])
    users, items = timed_paths(data)
    names = [(data.user_ids[u], data.item_ids[i]) for u, i in zip(users, items, strict=True)]
    assert names == [("u1", "a"), ("u1", "b"), ("u1", "c"), ("u2", "a"), ("u2", "c")]


def test_shifted_rows_stay_within_each_users_sequence():
    users = np.array([0, 0, 0, 1, 1])
    items = np.array([0, 1, 2, 3, 0])
    # the item itself (offset 0, weight 1) and the one before it (offset -1, weight 0.5)
    x = shifted_rows(users, items, np.array([0, -1]), np.array([1.0, 0.5]), 4).toarray()
    np.testing.assert_allclose(x, [[1, 0, 0, 0], [0.5, 1, 0, 0], [0, 0.5, 1, 0], [0, 0, 0, 1], [1, 0, 0, 0.5]])
    # the next item: the last of each user has none
    y = shifted_rows(users, items, np.array([1]), np.array([1.0]), 4).toarray()
    np.testing.assert_allclose(y, [[0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]])


def test_item_matrix_is_the_ridge_regression_of_next_items_on_latest_items():
    rng = np.random.default_rng(0)
    rows = [(f"u{u}", f"i{j}", float(t)) for u in range(30) for t, j in enumerate(rng.choice(12, 6, replace=False))]
    data = _frame(rows)
    rec = TransitionRecommender(lambda_=3.0, past=2, past_tau=2.0, ahead=2, ahead_tau=1.0).fit(data)
    users, items = timed_paths(data)
    n = data.n_items
    x_rows, y_rows, latest = [], [], {}
    for u in np.unique(users):
        seq = items[users == u]
        for t in range(len(seq)):
            x = np.zeros(n)
            x[seq[t]] += 1.0
            if t >= 1:
                x[seq[t - 1]] += np.exp(-0.5)
            y = np.zeros(n)
            for d in (1, 2):
                if t + d < len(seq):
                    y[seq[t + d]] += np.exp(-(d - 1))
            latest[u] = x
            if y.any():
                x_rows.append(x)
                y_rows.append(y)
    xm, ym = np.array(x_rows), np.array(y_rows)
    want = np.linalg.solve(xm.T @ xm + 3.0 * np.eye(n), xm.T @ ym)
    np.testing.assert_allclose(rec.B_, want, rtol=1e-4, atol=1e-6)
    # a customer's scores are their latest input times B
    u0 = int(data.user_index(["u0"])[0])
    np.testing.assert_allclose(rec.score(np.array([u0]))[0], latest[u0] @ want, rtol=1e-4, atol=1e-6)


def _paths(n_users: int = 60, seed: int = 1) -> Interactions:
    """Every customer picks a few fillers, then 'lead', then 'next' right after it."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        t = 0.0
        for f in rng.choice(10, size=4, replace=False):
            rows.append((f"u{u}", f"f{f}", t))
            t += 1.0
        rows += [(f"u{u}", "lead", t), (f"u{u}", "next", t + 1.0)]
    rows += [("new", "f0", 0.0), ("new", "lead", 1.0), ("back", "f1", 0.0), ("back", "next", 1.0)]
    return _frame(rows)


def test_recommends_what_comes_next_and_is_directional():
    data = _paths()
    rec = make_recommender("transition", lambda_=5.0, past=1, ahead=1).fit(data)  # first-order transitions
    i_lead, i_next = data.item_index(["lead", "next"])
    assert rec.B_[i_lead, i_next] > 0.9 and rec.B_[i_next, i_lead] == 0.0  # 'next' follows 'lead', never before it
    out = rec.recommend(["new", "back"], k=3)
    new = out[out["user_id"] == "new"].set_index("item_id")
    assert new["rank"].idxmin() == "next" and new.loc["next", "reason"] == "because you liked lead"
    # 'back' ends on 'next', which nothing follows: no transition leads anywhere, 'lead' included
    back_scores = rec.score(data.user_index(["back"]))[0]
    assert np.abs(back_scores).max() == 0.0
    sim = rec.similar_items(["lead"], k=1)
    assert sim["similar_item_id"].tolist() == ["next"]
    assert sim["reason"].tolist() == ["often picked next after lead"]
    # with the defaults (20 latest items in, 20 next items out) 'next' still comes first after 'lead'
    default = make_recommender("transition", lambda_=5.0).fit(data).recommend(["new"], k=1)
    assert default["item_id"].tolist() == ["next"]


def test_needs_timestamps_and_says_so():
    untimed = Interactions.from_frame(pd.DataFrame({"user_id": ["a", "a", "b"], "item_id": ["x", "y", "x"]}))
    rec = make_recommender("transition")
    assert rec.unfit_reason(untimed) == "needs event timestamps"
    with pytest.raises(InputError, match="timestamps"):
        rec.fit(untimed)


def test_refuses_bad_parameters_and_oversized_catalogues():
    data = _paths(10)
    for bad in ({"lambda_": 0}, {"lambda_": True}, {"past": 0}, {"past": 2.5}, {"ahead": -1}, {"past_tau": 0},
                {"ahead_tau": "soon"}, {"max_items": 0}):
        with pytest.raises(InputError):
            TransitionRecommender(**bad).fit(data)
    small = TransitionRecommender(max_items=5)
    assert "dense-inversion limit" in small.unfit_reason(data)
    with pytest.raises(InputError, match="max_items=5"):
        small.fit(data)


def test_a_log_with_one_event_per_customer_has_no_transitions_and_still_serves():
    data = _frame([("a", "x", 1.0), ("b", "y", 2.0), ("c", "x", 3.0)])
    rec = TransitionRecommender().fit(data)
    assert not rec.B_.any()
    out = rec.recommend(["a", "newcomer"], k=1)  # an unknown customer gets the cold-start list
    assert out["user_id"].tolist() == ["a", "newcomer"] and out["item_id"].notna().all()
