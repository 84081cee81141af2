"""Live team-draft interleaving of two registered recommenders: lists, logged impressions, credited clicks, verdict."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from api_helpers import auth, seed_two_worlds
from fastapi.testclient import TestClient

from persona.api.keys import create_key
from persona.api.main import create_app
from persona.config import load_settings
from persona.data import Interactions
from persona.recommend import make_recommender
from persona.registry import register
from persona.store import open_store
from persona.store.workspace import init_workspace


@pytest.fixture
def two_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TestClient, dict[str, str], object]]:
    monkeypatch.delenv("PERSONA_WORKSPACE", raising=False)
    monkeypatch.delenv("PERSONA_DATABASE_URL", raising=False)
    settings = load_settings(tmp_path / "ws", progress=False, global_holdout=0.0)
    init_workspace(settings)
    store = open_store(settings)
    seed_two_worlds(store)
    data = Interactions.from_store(store)
    register(store, "recommender", "recommender", make_recommender("itemknn").fit(data), activate=True)
    register(store, "popular", "recommender", make_recommender("popular").fit(data), activate=True)
    keys = {s: create_key(store, s)["key"] for s in ("read", "write")}
    with TestClient(create_app(settings, store=store)) as client:
        yield client, keys, store
    store.dispose()


def test_interleaved_lists_are_logged_and_clicks_decide_the_winner(two_models) -> None:  # noqa: ANN001
    client, keys, store = two_models
    customers = store.read_frame("SELECT DISTINCT customer_id FROM events ORDER BY customer_id")["customer_id"].tolist()[:12]
    for cid in customers:
        r = client.get(f"/v1/recommendations/{cid}?k=6&interleave=ab1,recommender,popular", headers=auth(keys["read"]))
        assert r.status_code == 200, r.text
        body = r.json()
        items = body["items"]
        assert body["variant"] == "interleaved" and body["impression_id"] and len(items) == 6
        assert {i["team"] for i in items} <= {"A", "B"} and [i["rank"] for i in items] == list(range(1, 7))
        assert abs(sum(i["team"] == "A" for i in items) - 3) <= 1  # team draft alternates
        # the customer clicks every item model A (item-kNN) drafted, and names the impression
        clicks = [{"event_id": f"{body['impression_id']}:{i['product_id']}", "customer_id": cid, "product_id": i["product_id"],
                   "event_type": "click", "timestamp": "2030-01-01T00:00:00Z", "impression_id": body["impression_id"]}
                  for i in items if i["team"] == "A"]
        assert client.post("/v1/events", json={"events": clicks}, headers=auth(keys["write"])).status_code == 200
    res = client.get("/v1/experiments/ab1/interleaving", headers=auth(keys["read"])).json()
    assert res["impressions"] == 12 and res["wins_a"] == 12 and res["wins_b"] == 0
    assert res["p_value"] < 0.01 and res["preference_b"] == -1.0 and "recommender" in res["verdict"]


def test_interleaving_mistakes_are_4xx(two_models) -> None:  # noqa: ANN001
    client, keys, _ = two_models
    assert client.get("/v1/recommendations/x?interleave=onlyone", headers=auth(keys["read"])).status_code == 422
    assert client.get("/v1/recommendations/x?interleave=e,recommender,nope", headers=auth(keys["read"])).status_code == 404
    assert client.get("/v1/experiments/none/interleaving", headers=auth(keys["read"])).status_code == 422
