"""The live loop: a posted event changes the customer's recommendations and profile within a second, without retraining."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from api_helpers import NOW, auth, seed_two_worlds
from fastapi.testclient import TestClient

from persona.api.foldin import History, foldin_recommend, history_vector, score_history
from persona.api.keys import create_key
from persona.api.main import create_app
from persona.config import load_settings
from persona.data import Interactions
from persona.recommend import make_recommender
from persona.registry import list_models, register
from persona.store import open_store
from persona.store.workspace import init_workspace


def _two_worlds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[object, object]:
    """A fresh workspace with :func:`seed_two_worlds`: its settings and open store."""
    monkeypatch.delenv("PERSONA_WORKSPACE", raising=False)
    monkeypatch.delenv("PERSONA_DATABASE_URL", raising=False)
    settings = load_settings(tmp_path / "ws", progress=False, global_holdout=0.0)
    init_workspace(settings)
    store = open_store(settings)
    seed_two_worlds(store)
    return settings, store


@pytest.fixture(params=["itemknn", "ease", "als"])
def live(request, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TestClient, dict[str, str], object, str]]:  # noqa: ANN001
    monkeypatch.setenv("PERSONA_LIVE_POLL_SECONDS", "0.1")
    settings, store = _two_worlds(tmp_path, monkeypatch)
    params = {"factors": 8, "seed": 0} if request.param == "als" else {}
    model = make_recommender(request.param, **params).fit(Interactions.from_store(store))
    register(store, "recommender", "recommender", model, {"algorithm": request.param}, {"ndcg@10": 0.5}, activate=True)
    from persona.profiles.repository import build_and_store

    build_and_store(store)
    keys = {s: create_key(store, s)["key"] for s in ("read", "write", "admin")}
    with TestClient(create_app(settings, store=store)) as client:
        yield client, keys, store, request.param
    store.dispose()


def _recs(client: TestClient, key: str, cid: str, k: int = 6) -> list[str]:
    return [i["product_id"] for i in _items(client, key, cid, k)]


def _items(client: TestClient, key: str, cid: str, k: int = 6) -> list[dict]:
    r = client.get(f"/v1/recommendations/{cid}?k={k}", headers=auth(key))
    assert r.status_code == 200, r.text
    return r.json()["items"]


def _best_b(items: list[dict]) -> tuple[int, float]:
    """Rank and score of the first B-world item (k+1, -inf when none)."""
    b = [i for i in items if i["product_id"].startswith("b")]
    return (b[0]["rank"], b[0]["score"]) if b else (len(items) + 1, float("-inf"))


def test_a_purchase_changes_recommendations_within_a_second(live) -> None:  # noqa: ANN001
    client, keys, store, algo = live
    cid = "u000"  # an A-world customer
    full_before = _items(client, keys["read"], cid, 16)
    before = [i["product_id"] for i in full_before]
    assert all(p.startswith("a") for p in before[:4]), before  # the model learned the worlds
    t0 = time.perf_counter()
    ev = {"events": [{"event_id": "live-1", "customer_id": cid, "product_id": "b0", "event_type": "purchase",
                      "timestamp": NOW.isoformat()}]}
    assert client.post("/v1/events", json=ev, headers=auth(keys["write"])).json()["accepted"] == 1
    full_after = _items(client, keys["read"], cid, 16)
    elapsed = time.perf_counter() - t0
    after = [i["product_id"] for i in full_after]
    assert elapsed < 1.0
    assert "b0" not in after and "b0" in before  # the purchase is excluded at once
    assert set(before) - {"b0"} == set(after)  # the same catalogue minus the purchase, re-ranked
    b_before = {i["product_id"]: i["score"] for i in full_before if i["product_id"].startswith("b")}
    b_after = {i["product_id"]: i["score"] for i in full_after if i["product_id"].startswith("b")}
    assert np.mean([b_after[p] - b_before[p] for p in b_after]) > 0.01, (algo, b_before, b_after)  # b0's world rises
    assert any(i["reason"] == "because you bought Product b0" for i in full_after if i["product_id"].startswith("b"))
    assert len(list_models(store)) == 1  # no retrain happened


def test_a_change_of_interest_moves_the_top_of_the_list(live) -> None:  # noqa: ANN001
    client, keys, _, algo = live
    assert _recs(client, keys["read"], "u_light", 3)[0].startswith("a")
    ev = {"events": [{"event_id": f"light-{p}", "customer_id": "u_light", "product_id": p, "event_type": "purchase",
                      "timestamp": NOW.isoformat()} for p in ("b0", "b1", "b2")]}
    client.post("/v1/events", json=ev, headers=auth(keys["write"]))
    after = _recs(client, keys["read"], "u_light", 3)
    assert after[0].startswith("b") and not {"b0", "b1", "b2"} & set(after), (algo, after)


@pytest.mark.parametrize("live", ["itemknn"], indirect=True)
def test_a_posted_event_refreshes_the_profile_row_within_a_second(live) -> None:  # noqa: ANN001
    client, keys, store, _ = live
    cid = "u001"
    h = auth(keys["read"])
    before = client.get(f"/v1/customers/{cid}/profile", headers=h).json()
    assert "features" in before, before
    assert before["features"] is not None
    ev = {"events": [{"event_id": f"live-p{i}", "customer_id": cid, "product_id": "b1", "event_type": "purchase",
                      "revenue": 500.0, "timestamp": NOW.isoformat()} for i in range(3)]}
    t0 = time.perf_counter()
    client.post("/v1/events", json=ev, headers=auth(keys["write"]))
    changed = None
    while time.perf_counter() - t0 < 1.0:
        now = client.get(f"/v1/customers/{cid}/profile", headers=h).json()
        if now["updated_at"] != before["updated_at"]:
            changed = now
            break
        time.sleep(0.02)
    assert changed is not None, "profile row not refreshed within 1 s"
    diff = {k for k in before["features"] if before["features"][k] != changed["features"].get(k)}
    assert diff, "the profile's features did not change"


@pytest.mark.parametrize("live", ["itemknn"], indirect=True)
def test_events_from_another_writer_reach_the_service_through_the_store(live) -> None:  # noqa: ANN001
    client, keys, store, _ = live
    cid = "u002"
    before = _recs(client, keys["read"], cid, 16)
    assert "b2" in before  # an A-world customer: b2 is somewhere in the full list
    store.bulk_insert("events", [{"event_id": "other-1", "customer_id": cid, "product_id": "b2", "event_type": "purchase",
                                  "ts": NOW, "revenue": 1.0, "quantity": 1.0}])  # e.g. another worker or a file ingest
    deadline = time.perf_counter() + 1.0
    after = before
    while time.perf_counter() < deadline and "b2" in after:
        time.sleep(0.05)
        after = _recs(client, keys["read"], cid, 16)
    assert "b2" not in after


@pytest.mark.parametrize("live", ["itemknn"], indirect=True)
def test_models_endpoint_shows_freshness_and_drift(live) -> None:  # noqa: ANN001
    client, keys, *_ = live
    client.post("/v1/events", json={"events": [{"event_id": "d1", "customer_id": "brand-new", "product_id": "zz-new",
                                                "event_type": "view", "timestamp": NOW.isoformat()}]}, headers=auth(keys["write"]))
    body = client.get("/v1/models", headers=auth(keys["read"])).json()
    assert body["versions"][0]["status"] == "active"
    assert body["serving"]["model"] == "recommender" and body["serving"]["age_seconds"] >= 0
    assert body["drift"]["share_unseen_customers"] > 0 and body["drift"]["share_unseen_products"] > 0
    assert client.get("/readyz").json()["checks"]["model_age_seconds"] >= 0


def test_foldin_of_a_training_users_history_matches_the_model() -> None:
    df = __import__("pandas").DataFrame({"user": ["x", "x", "y", "y", "z"], "item": ["i1", "i2", "i2", "i3", "i1"]})
    data = Interactions.from_frame(df, user="user", item="item")
    for name in ("ease", "itemknn"):
        model = make_recommender(name).fit(data)
        h = history_vector(model, __import__("pandas").DataFrame({"product_id": ["i1", "i2"], "event_type": ["x", "x"]}))
        direct = model.score(data.user_index(["x"]))[0]
        folded = score_history(model, History(h.items, np.ones(2, np.float32), h.strength, 0))
        if name == "ease":
            np.testing.assert_allclose(folded, direct, rtol=1e-5)
        assert [r["product_id"] for r in foldin_recommend(model, h, 5)] == ["i3"]


@pytest.mark.parametrize(("name", "params"), [("itemknn", {}), ("itemknn", {"binary": False}), ("ease", {})])
def test_foldin_reasons_are_the_offline_reasons_for_the_same_history(name, params) -> None:
    pd = __import__("pandas")
    rows = []
    for u in range(10):
        rows += [(f"g{u}", "guide", "purchase"), (f"g{u}", "flour", "purchase")]
    for u in range(20):
        rows += [(f"t{u}", "treats", "purchase")] + [(f"t{u}", "flour", "purchase")] * (u < 3) + [(f"t{u}", "leash", "purchase")] * (u < 6)
    heavy = [("heavy", "treats", "view")] * 90 + [("heavy", "treats", "purchase"), ("heavy", "guide", "purchase")]
    df = pd.DataFrame(rows + heavy, columns=["user_id", "item_id", "event"])
    model = make_recommender(name, **params).fit(Interactions.from_frame(df, event_type="event"))
    offline = model.recommend(["heavy"], k=2)
    events = pd.DataFrame({"product_id": [i for _, i, _ in heavy], "event_type": [e for _, _, e in heavy]})
    folded = foldin_recommend(model, history_vector(model, events), 2)
    assert [r["reason"] for r in folded] == list(offline["reason"])
    assert [r["product_id"] for r in folded] == list(offline["item_id"])


def test_foldin_of_category_affinity_matches_the_model_and_follows_new_events() -> None:
    pd = __import__("pandas")
    items = pd.DataFrame({"item_id": ["s1", "s2", "s3", "t1", "t2"], "category": ["shoes"] * 3 + ["tents"] * 2})
    df = pd.DataFrame({"user": ["x", "x", "y", "y", "z"], "item": ["s1", "s2", "s2", "t1", "t2"]})
    model = make_recommender("category", recency_tau=None).fit(Interactions.from_frame(df, user="user", item="item", items=items))
    h = history_vector(model, pd.DataFrame({"product_id": ["s1", "s2"], "event_type": ["x", "x"]}))
    folded = score_history(model, History(h.items, np.ones(2, np.float32), h.strength, 0))
    np.testing.assert_allclose(folded, model.score(model.data_.user_index(["x"]))[0], rtol=1e-6)
    assert [r["product_id"] for r in foldin_recommend(model, h, 1)] == ["s3"]
    # three tent events arrive: tents lead at once, no refit
    h2 = history_vector(model, pd.DataFrame({"product_id": ["s1", "t1", "t1", "t1"], "event_type": ["x"] * 4}))
    assert foldin_recommend(model, h2, 1)[0]["product_id"] == "t2"


@pytest.mark.parametrize("live", ["itemknn"], indirect=True)
def test_hot_path_answers_exactly_like_the_route_and_keeps_auth(live, monkeypatch) -> None:  # noqa: ANN001
    from persona.api import deps, hotpath
    from persona.api.keys import revoke_key

    client, keys, store, _ = live
    h = auth(keys["read"])
    calls = []
    real = hotpath.HotRecommendations._body
    monkeypatch.setattr(hotpath.HotRecommendations, "_body", lambda self, scope: calls.append(r := real(self, scope)) or r)
    slow = client.get("/v1/recommendations/u003?k=7", headers=h)
    fast = client.get("/v1/recommendations/u003?k=7", headers=h)
    assert calls[0] is None and calls[1] is not None  # first computed by the route, then served from the cache
    assert fast.status_code == 200 and fast.json() == slow.json() and fast.headers["content-type"] == "application/json"
    assert client.get("/v1/recommendations/u003?k=7", headers={"X-API-Key": keys["read"]}).json() == slow.json()
    assert client.get("/v1/recommendations/u003?k=7").status_code == 401
    assert client.get("/v1/recommendations/u003?k=0", headers=h).status_code == 422  # falls through to validation
    metrics = client.get("/metrics", headers=h).text
    assert 'route="/v1/recommendations/{customer_id}",status="200"' in metrics
    monkeypatch.setattr(deps, "KEY_CACHE_SECONDS", 0.0)
    revoke_key(store, keys["read"].split("_")[1])
    assert client.get("/v1/recommendations/u003?k=7", headers=h).status_code == 401


@pytest.mark.parametrize("live", ["itemknn"], indirect=True)
def test_erasure_removes_the_person_from_served_lists_at_once(live) -> None:  # noqa: ANN001
    client, keys, store, _ = live
    before = _items(client, keys["read"], "u004", 5)
    assert any(i["reason"].startswith("because you") for i in before)  # personal, from their history
    assert client.delete("/v1/customers/u004", headers=auth(keys["admin"])).status_code == 200
    after = client.get("/v1/recommendations/u004?k=5", headers=auth(keys["read"]))
    assert after.status_code == 200
    assert not any(i["reason"].startswith("because you") for i in after.json()["items"])  # cold start: nothing of theirs is used
    assert client.get("/v1/customers/u004/profile", headers=auth(keys["read"])).status_code == 404
    from persona.privacy.gdpr import erase_customer

    assert any(i["reason"].startswith("because you") for i in _items(client, keys["read"], "u005", 5))
    erase_customer(store, store.settings, "u005", actor="cli")  # another process: the CLI, or another worker
    deadline = time.perf_counter() + 2.0
    personal = True
    while personal and time.perf_counter() < deadline:
        time.sleep(0.1)
        personal = any(i["reason"].startswith("because you") for i in _items(client, keys["read"], "u005", 5))
    assert not personal



def test_include_seen_brings_back_viewed_products_and_never_bought_ones(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings, store = _two_worlds(tmp_path, monkeypatch)
    # u000 also viewed two products of the other world, without buying them
    store.bulk_insert("events", [{"event_id": f"look{j}", "customer_id": "u000", "product_id": p, "event_type": "view",
                                  "ts": NOW, "value": 1.0} for j, p in enumerate(["b0", "b1"])], key=["event_id"])
    bought = set(store.read_frame("SELECT product_id FROM events WHERE customer_id = 'u000' AND event_type = 'purchase'")["product_id"])
    model = make_recommender("popular").fit(Interactions.from_store(store))
    register(store, "recommender", "recommender", model, {"algorithm": "popular"}, {"ndcg@10": 0.5}, activate=True)
    key = create_key(store, "read")["key"]
    with TestClient(create_app(settings, store=store)) as client:
        plain = _recs(client, key, "u000", k=16)
        assert not {"b0", "b1"} & set(plain) and not bought & set(plain)
        r = client.get("/v1/recommendations/u000?k=16&include_seen=true", headers=auth(key))
        assert r.status_code == 200, r.text
        got = [i["product_id"] for i in r.json()["items"]]
        assert {"b0", "b1"} <= set(got) and not bought & set(got)
        # the plain list is still served as before (an include_seen list is never cached)
        assert _recs(client, key, "u000", k=16) == plain
        # events since training count at once: b0 bought now stays out, b2 viewed now comes back, saying so
        write = create_key(store, "write")["key"]
        ev = {"events": [{"event_id": "now-b0", "customer_id": "u000", "product_id": "b0", "event_type": "purchase",
                          "timestamp": NOW.isoformat()},
                         {"event_id": "now-b2", "customer_id": "u000", "product_id": "b2", "event_type": "view",
                          "timestamp": NOW.isoformat()}]}
        assert client.post("/v1/events", json=ev, headers=auth(write)).json()["accepted"] == 2
        r = client.get("/v1/recommendations/u000?k=16&include_seen=true", headers=auth(key))
        items = {i["product_id"]: i["reason"] for i in r.json()["items"]}
        assert "b0" not in items and "b1" in items and not bought & set(items)
        assert items["b2"] == "you viewed this recently"
    store.dispose()


def test_foldin_of_the_repeat_model_ranks_new_products_as_its_base_does() -> None:
    pd = __import__("pandas")
    rng = np.random.default_rng(0)
    rows = [(f"u{u}", f"i{int(j)}", u * 100 + n) for u in range(30) for n, j in enumerate(rng.choice(12, 6, replace=False))]
    data = Interactions.from_frame(pd.DataFrame(rows, columns=["user", "item", "ts"]), user="user", item="item", time="ts")
    model = make_recommender("repeat", base="ease").fit(data)
    items = [i for u, i, _ in rows if u == "u3"]
    h = history_vector(model, pd.DataFrame({"product_id": items, "event_type": ["x"] * len(items)}))
    folded = score_history(model, History(h.items, np.ones(len(items), np.float32), h.strength, 0))
    direct = model.score(data.user_index(["u3"]))[0]
    new = np.setdiff1d(np.arange(data.n_items), h.items)
    np.testing.assert_allclose(folded[new], direct[new], rtol=1e-5)
    assert [r["product_id"] for r in foldin_recommend(model, h, 4)] == model.recommend(["u3"], k=4)["item_id"].tolist()
    # the plain list is the base model's, scores included (a live customer's list reads as anyone else's)
    base_list = foldin_recommend(model.base_, h, 4)
    assert foldin_recommend(model, h, 4) == base_list


def _shop_with_repeats(seen_ranker: str = "learned") -> tuple[object, object]:
    """40 customers browsing 12 products over time (views, carts, a few buys), with views coming back."""
    pd = __import__("pandas")
    rng = np.random.default_rng(1)
    rows = []
    for u in range(40):
        liked = rng.choice(12, 5, replace=False)
        for n in range(14):
            item = int(liked[n % 5]) if rng.random() < 0.7 else int(rng.integers(12))
            kind = rng.choice(["view", "view", "view", "add_to_cart", "purchase"])
            rows.append((f"u{u}", f"i{item}", str(kind), u * 1000 + n))
    df = pd.DataFrame(rows, columns=["user", "item", "event_type", "ts"])
    data = Interactions.from_frame(df, user="user", item="item", time="ts", event_type="event_type")
    return df, make_recommender("repeat", base="ease", seen_ranker=seen_ranker).fit(data)


@pytest.mark.parametrize("seen_ranker", ["learned", "interest"])
def test_include_seen_foldin_of_a_training_history_matches_the_repeat_model(seen_ranker: str) -> None:
    df, model = _shop_with_repeats(seen_ranker)
    assert model.curves_["seen"][0] > 0  # customers here do come back
    assert (model.propensity_ is not None) == (seen_ranker == "learned")
    for cid in ("u3", "u17", "u30"):
        mine = df[df["user"] == cid].sort_values("ts", ascending=False, kind="stable")
        events = mine.rename(columns={"item": "product_id"})[["product_id", "event_type"]]
        h = history_vector(model, events)
        folded = foldin_recommend(model, h, 8, include_seen=True, events=events)
        trained = model.recommend([cid], k=8, exclude_seen=False, filters={"exclude_purchased": True})
        assert [r["product_id"] for r in folded] == trained["item_id"].tolist()
        np.testing.assert_allclose([r["score"] for r in folded], trained["score"].to_numpy(), rtol=1e-5)
        bought = set(mine.loc[mine["event_type"] == "purchase", "item"])
        seen = set(mine["item"]) - bought
        assert any(r["product_id"] in seen for r in folded) and not bought & {r["product_id"] for r in folded}
        again = {r["product_id"]: r["reason"] for r in folded if r["product_id"] in seen}
        assert again == {i: x for i, x in zip(trained["item_id"], trained["reason"], strict=True) if i in again}


def test_include_seen_foldin_brings_back_a_product_viewed_since_training() -> None:
    df, model = _shop_with_repeats()
    cid = "u5"
    mine = df[df["user"] == cid].sort_values("ts", ascending=False, kind="stable")
    events = mine.rename(columns={"item": "product_id"})[["product_id", "event_type"]]
    new = next(f"i{j}" for j in range(12) if f"i{j}" not in set(mine["item"]))
    before = foldin_recommend(model, history_vector(model, events), 12, include_seen=True, events=events)
    pd = __import__("pandas")
    now = pd.concat([pd.DataFrame({"product_id": [new] * 3, "event_type": ["add_to_cart"] * 3}), events], ignore_index=True)
    after = foldin_recommend(model, history_vector(model, now), 12, include_seen=True, events=now)
    rank = {r["product_id"]: r["rank"] for r in after}
    assert rank[new] < {r["product_id"]: r["rank"] for r in before}.get(new, 13)  # carted now: it moves up at once
    assert next(r["reason"] for r in after if r["product_id"] == new) == "you put this in your cart and came back 2 times"
    # without include_seen the product just viewed stays out, as every other seen one
    assert new not in [r["product_id"] for r in foldin_recommend(model, history_vector(model, now), 5)]
