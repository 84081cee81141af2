"""Scheduled retrain: a better candidate is promoted, a worse one is not, rollback is one command, services follow."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from api_helpers import auth, seed_two_worlds
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from persona.api.keys import create_key
from persona.api.main import create_app
from persona.cli.main import app
from persona.config import load_settings
from persona.data import Interactions
from persona.recommend import make_recommender
from persona.registry import get_version, list_models, register
from persona.store import open_store
from persona.store.workspace import init_workspace

runner = CliRunner()


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    monkeypatch.delenv("PERSONA_DATABASE_URL", raising=False)
    monkeypatch.setenv("PERSONA_WORKSPACE", str(tmp_path / "ws"))
    settings = load_settings(tmp_path / "ws", progress=False, global_holdout=0.0)
    init_workspace(settings)
    store = open_store(settings)
    seed_two_worlds(store)
    weak = make_recommender("popular").fit(Interactions.from_store(store))
    register(store, "recommender", "recommender", weak, {"algorithm": "popular"}, {"ndcg@10": 0.1}, activate=True)
    yield settings, store
    store.dispose()


def _train(*args: str) -> dict:
    res = runner.invoke(app, ["train", "--json", *args])
    assert res.exit_code == 0, res.output
    return json.loads(res.output)


def test_better_candidate_is_promoted_worse_is_not_and_rollback_is_one_command(ws) -> None:  # noqa: ANN001
    settings, store = ws
    rep = _train("--model", "itemknn")
    assert rep["promoted"] is True and rep["version"] == 2 and rep["active_version"] == 1
    assert rep["candidate"]["ndcg@10"] > rep["active"]["ndcg@10"]
    assert get_version(store, "recommender").version == 2
    rep = _train("--model", "popular")  # a weaker algorithm than the active itemknn
    assert rep["promoted"] is False and rep["candidate"]["ndcg@10"] <= rep["active"]["ndcg@10"]
    assert [m.status for m in list_models(store, "recommender")] == ["retired", "active", "candidate"]
    res = runner.invoke(app, ["models", "rollback", "recommender", "--json"])
    assert res.exit_code == 0 and json.loads(res.output)["version"] == 1
    assert get_version(store, "recommender").version == 1
    res = runner.invoke(app, ["models", "promote", "recommender", "2", "--json"])
    assert res.exit_code == 0 and get_version(store, "recommender").version == 2
    listed = json.loads(runner.invoke(app, ["models", "list", "--json"]).output)
    assert [r["version"] for r in listed] == [1, 2, 3]
    assert listed[1]["metrics"]["event_watermark"] == store.read_frame("SELECT MAX(id) AS m FROM events")["m"].iloc[0]


def test_scheduled_loop_and_bad_options(ws) -> None:  # noqa: ANN001
    rep = runner.invoke(app, ["train", "--json", "--model", "itemknn", "--every", "1", "--max-runs", "2"])
    assert rep.exit_code == 0, rep.output
    assert rep.output.count('"promoted"') == 2
    bad = runner.invoke(app, ["train", "--schedule", "not a cron"])
    assert bad.exit_code != 0 and "cron" in bad.output
    assert runner.invoke(app, ["models", "rollback", "nope"]).exit_code != 0


def test_running_service_follows_promotion_and_rollback(ws) -> None:  # noqa: ANN001
    settings, store = ws
    key = create_key(store, "admin")["key"]
    with TestClient(create_app(settings, store=store)) as client:
        assert client.get("/v1/recommendations/u000", headers=auth(key)).json()["version"] == 1
        _train("--model", "itemknn")
        assert client.post("/v1/models/recommender/rollback", headers=auth(key)).json()["version"] == 1
        assert client.get("/v1/recommendations/u000", headers=auth(key)).json()["version"] == 1
        assert client.post("/v1/models/recommender/promote/2", headers=auth(key)).json()["status"] == "active"
        body = client.get("/v1/recommendations/u000", headers=auth(key)).json()
        assert body["version"] == 2 and body["model"] == "recommender"
        models = client.get("/v1/models", headers=auth(key)).json()
        assert models["last_retrain"]["promoted"] is True and models["drift"]["events_since_training"] == 0
        assert client.post("/v1/models/recommender/promote/9", headers=auth(key)).status_code == 404
        assert client.post("/v1/models/recommender/rollback", headers=auth(create_key(store, "read")["key"])).status_code == 403
        register(store, "propensity_服装", "propensity", {"w": 1}, {}, {})  # a category's model: names in any script
        r = client.post("/v1/models/propensity_服装/promote/1", headers=auth(key))
        assert r.status_code == 200 and r.json()["status"] == "active", r.text
        assert client.post("/v1/models/_hidden/promote/1", headers=auth(key)).status_code == 422


def test_recommendation_ab_test_serves_each_customer_their_variants_model(ws) -> None:  # noqa: ANN001
    from persona.experiments.assignment import ExperimentSpec, assign, save_experiment

    settings, store = ws
    knn = make_recommender("itemknn").fit(Interactions.from_store(store))
    register(store, "recommender", "recommender", knn, {"algorithm": "itemknn"}, {}, activate=False)  # v2, not active
    spec = ExperimentSpec(name="recs-ab", variants={"control": 1, "recommender@2": 1})
    save_experiment(store, spec)
    key = create_key(store, "read")["key"]
    ids = [f"u{i:03d}" for i in range(20)]
    expected = assign(spec, ids)
    with TestClient(create_app(settings, store=store)) as client:
        for cid in ids:
            body = client.get(f"/v1/recommendations/{cid}?experiment=recs-ab", headers=auth(key)).json()
            assert body["variant"] == expected[cid]
            assert body["version"] == (2 if expected[cid] == "recommender@2" else 1)
            client.get(f"/v1/recommendations/{cid}?experiment=recs-ab", headers=auth(key))  # a second exposure is not logged
        exp = store.read_frame("SELECT customer_id, variant FROM assignments WHERE experiment = 'recs-ab'")
        assert len(exp) == 20 and dict(zip(exp["customer_id"], exp["variant"], strict=True)) == expected.to_dict()
        listed = client.get("/v1/experiments", headers=auth(key)).json()
        assert listed[0]["name"] == "recs-ab" and listed[0]["exposures"] == 20
        created = datetime.fromisoformat(listed[0]["created_at"])  # ISO 8601 in UTC, on either database
        assert created.utcoffset() == timedelta(0) and "T" in listed[0]["created_at"]
        res = client.get("/v1/experiments/recs-ab/results", headers=auth(key))
        assert res.status_code == 200, res.text
        assert {a["variant"] if "variant" in a else list(a.values())[0] for a in res.json()["arms"]} >= {"control", "recommender@2"}
        assert client.get("/v1/experiments/nope/results", headers=auth(key)).status_code == 404
        assert client.get("/v1/recommendations/u000?experiment=nope", headers=auth(key)).status_code == 404


def test_train_sync_pulls_the_configured_sources_first(ws, tmp_path) -> None:  # noqa: ANN001
    import sqlite3

    settings, store = ws
    assert runner.invoke(app, ["train", "--sync"]).exit_code == 2  # no source configured: refused before any work
    pairs = store.read_frame("SELECT customer_id, product_id FROM events LIMIT 30")
    db = tmp_path / "clicks.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE clicks (event_id TEXT, customer_id TEXT, product_id TEXT, event_type TEXT, timestamp TEXT)")
    con.executemany("INSERT INTO clicks VALUES (?, ?, ?, 'view', '2031-01-01T00:00:00Z')",
                    [(f"new{i}", c, p) for i, (c, p) in enumerate(pairs.itertuples(index=False))])
    con.commit()
    con.close()
    before = store.read_frame("SELECT MAX(id) AS m FROM events")["m"].iloc[0]
    cfg = settings.config_path
    cfg.write_text(cfg.read_text(encoding="utf-8") + f'\n[sources.clicks]\nentity = "events"\nsql = "clicks"\ndb = "sqlite:///{db}"\n',
                   encoding="utf-8")
    rep = _train("--model", "itemknn", "--sync")
    assert [(s["name"], s["accepted"]) for s in rep["sync"]] == [("clicks", 30)]
    trained_on = get_version(store, "recommender", rep["version"]).metrics["event_watermark"]
    assert trained_on > before  # the candidate saw the events pulled just before it
