"""The shared top-k helpers every recommender ranks with."""

from __future__ import annotations

import numpy as np
import pytest

from persona.recommend.base import top_columns, topk_indices


def test_top_columns_picks_the_k_largest_even_in_rows_full_of_ties():
    rng = np.random.default_rng(0)
    x = np.zeros((20, 500), dtype=np.float32)
    hot = rng.random(x.shape) < 0.03
    x[hot] = rng.random(int(hot.sum())).astype(np.float32)
    x[:, 7] = -np.inf  # e.g. the item itself
    top = top_columns(x, 25)
    assert top.shape == (20, 25)
    picked = np.sort(np.take_along_axis(x, top, axis=1), axis=1)
    expected = np.sort(x, axis=1)[:, -25:]
    np.testing.assert_array_equal(picked, expected)
    assert not (top == 7).any()
    assert top.base is None  # its own memory, not a view of the full partition
    # k at or beyond the row length: every column
    assert top_columns(x[:3, :5], 5).tolist() == [list(range(5))] * 3
    assert top_columns(x[:3, :5], 9).shape == (3, 5)


def test_topk_indices_orders_best_first_and_marks_excluded_positions():
    scores = np.array([[0.1, 0.9, 0.5, -np.inf], [-np.inf, -np.inf, 0.2, -np.inf]], dtype=np.float32)
    out = topk_indices(scores, 3)
    assert out[0].tolist() == [1, 2, 0]
    assert out[1].tolist()[0] == 2 and (out[1][1:] == -1).all()


def test_nan_scores_are_left_out_of_lists_and_logged(caplog):
    import pandas as pd

    from persona.data import Interactions
    from persona.recommend.popular import PopularRecommender

    class HalfNaN(PopularRecommender):
        def score(self, user_idx):
            s = super().score(user_idx).astype(np.float32)
            s[:, ::2] = np.nan
            return s

    data = Interactions.from_frame(pd.DataFrame({"user_id": ["a", "a", "b", "c", "c", "c"],
                                                 "item_id": ["x", "y", "x", "y", "z", "w"]}))
    with caplog.at_level("WARNING", logger="persona.recommend.base"):
        out = HalfNaN().fit(data).recommend(["a", "b"], k=4, reasons=False)
    assert "scored 2 of 2 customers NaN" in caplog.text
    nan_items = set(data.item_ids[::2])
    assert len(out) and not set(out["item_id"]) & nan_items


# --- reasons: the history item named is the one contributing most under the model's own scoring ---------------


def _heavy_user_shop():
    """A customer who viewed dog treats 90 times (and bought them once) and bought one baking guide.

    Bread flour goes with the guide (10 customers bought both) and only weakly with the treats (3 of 20 treats
    customers bought it); a dog leash goes with the treats only. Models scoring 0/1 histories recommend the
    flour because of the guide, whatever the treats' summed event weight.
    """
    import pandas as pd

    from persona.data import Interactions

    rows = []
    for u in range(10):
        rows += [(f"g{u}", "guide", "purchase"), (f"g{u}", "flour", "purchase")]
    for u in range(20):
        rows.append((f"t{u}", "treats", "purchase"))
        if u < 3:
            rows.append((f"t{u}", "flour", "purchase"))
        if u < 6:
            rows.append((f"t{u}", "leash", "purchase"))
    for u in range(6):
        rows += [(f"j{u}", "jacket", "purchase"), (f"j{u}", "hat", "purchase")]
    rows += [("heavy", "treats", "view")] * 90 + [("heavy", "treats", "purchase"), ("heavy", "guide", "purchase")]
    items = pd.DataFrame({"item_id": ["guide", "flour", "treats", "leash", "jacket", "hat"],
                          "title": ["baking guide", "bread flour", "dog treats", "dog leash", "down jacket", "wool hat"]})
    return Interactions.from_frame(pd.DataFrame(rows, columns=["user_id", "item_id", "event"]),
                                   event_type="event", items=items)


def _reasons(model, data) -> dict[str, str]:
    out = model.fit(data).recommend(["heavy"], k=3)
    return dict(zip(out["item_id"], out["reason"], strict=True))


@pytest.mark.parametrize("name", ["itemknn", "ease", "dlae", "rp3beta", "gfcf", "als"])
@pytest.mark.parametrize("large_catalogue", [False, True])
def test_a_heavily_used_item_does_not_explain_what_another_history_item_drives(name, large_catalogue, monkeypatch):
    import persona.recommend.base as base
    from persona.recommend.registry import make_recommender

    if large_catalogue:  # the per-user path of catalogues too large for a cached item × item matrix
        monkeypatch.setattr(base, "DENSE_SIMILARITY_ITEMS", 2)
    data = _heavy_user_shop()
    heavy = data.user_index(["heavy"])[0]
    assert dict(zip(*data.user_history(heavy), strict=True))[data.item_index(["treats"])[0]] > 50  # the raw weight
    reasons = _reasons(make_recommender(name), data)
    assert reasons["flour"] == "because you bought baking guide"
    assert reasons["leash"] == "because you bought dog treats"


def test_a_hybrid_explains_by_the_history_its_lead_member_scores():
    from persona.recommend.hybrid import HybridRecommender

    hybrid = HybridRecommender(models=["popular", "itemknn"], weights={"popular": 0.6, "itemknn": 0.4})
    reasons = _reasons(hybrid, _heavy_user_shop())
    assert reasons["flour"] == "because you bought baking guide"
    assert reasons["leash"] == "because you bought dog treats"


def test_a_model_scoring_event_weights_still_explains_by_them():
    from persona.recommend.registry import make_recommender

    data = _heavy_user_shop()
    weighted = make_recommender("itemknn", binary=False).fit(data)
    heavy = data.user_index(["heavy"])
    hist = weighted._explain_history(heavy)
    np.testing.assert_allclose(hist.toarray(), data.matrix[heavy].toarray())  # its scoring input: the weights
    scores = weighted.score(heavy)[0]
    w = weighted.similarity_.toarray()
    flour, guide, treats = data.item_index(["flour", "guide", "treats"])
    treats_part = w[flour, treats] * hist[0, treats]
    assert treats_part > w[flour, guide] * hist[0, guide]  # the treats drive its flour score
    assert np.isclose(scores[flour], treats_part + w[flour, guide] * hist[0, guide])
    assert _reasons(weighted, data)["flour"] == "because you bought dog treats"


@pytest.mark.parametrize("name", ["itemknn", "ease"])
def test_reasons_name_the_largest_contribution_to_the_score(name, toy):
    """On the shared toy shop with a few heavily used items: score(u, i) = Σ_j x(u, j) · W[j → i] with the
    model's own x, and the reason names the j with the largest term (ties: the one engaged with most)."""
    import pandas as pd

    from persona.data import Interactions
    from persona.recommend.registry import make_recommender

    log = toy.log
    events = pd.DataFrame({"user_id": toy.user_ids[log["user_idx"]], "item_id": toy.item_ids[log["item_idx"]],
                           "event_type": log["event"].astype(str).to_numpy()})
    heavy = pd.DataFrame({"user_id": [f"u{u}" for u in range(0, 60, 3)], "item_id": "i19", "event_type": "view"})
    events = pd.concat([events] + [heavy] * 40, ignore_index=True)
    data = Interactions.from_frame(events, event_type="event_type", items=toy.items)
    model = make_recommender(name).fit(data)
    users = data.user_ids[:60]
    out = model.recommend(users, k=5)
    uidx = data.user_index(users)
    x = model._x_[uidx].toarray()
    assert set(np.unique(x)) <= {0.0, 1.0}  # binary by default
    support = model.B_ if name == "ease" else model.similarity_.T.toarray()  # support[j, i]: j's share of i
    raw = data.matrix[uidx].toarray()
    labels = dict(zip(data.item_ids, data.item_labels(np.arange(data.n_items)), strict=True))
    checked = named_heavy = 0
    for r, u in enumerate(users):
        for item, reason in out.loc[out["user_id"] == u, ["item_id", "reason"]].itertuples(index=False):
            i = data.item_index([item])[0]
            contrib = np.where(x[r] > 0, support[:, i] * x[r], -np.inf)
            if not contrib.max() > 0:
                continue
            best = np.flatnonzero(np.isclose(contrib, contrib.max(), rtol=1e-5, atol=0))
            best = best[np.argmax(raw[r, best])]
            assert reason.endswith(" " + labels[data.item_ids[best]]), (u, item, reason)
            checked += 1
            named_heavy += data.item_ids[best] == "i19"
    assert checked > 100
    assert named_heavy < checked / 4  # the items viewed 40 times more do not explain everything
