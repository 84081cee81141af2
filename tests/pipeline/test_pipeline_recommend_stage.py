"""The ``recommend`` stage of ``persona run``: compare, register the best, hand it to later stages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from persona.data import Interactions
from persona.pipeline.registry import STAGES
from persona.pipeline.stage import RunContext
from persona.pipeline.stages.recommend import RECOMMEND
from persona.registry import list_models, load

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _seed(store, n_customers: int = 40, n_products: int = 16) -> None:
    rng = np.random.default_rng(0)
    store.bulk_insert("customers", [{"customer_id": f"c{i}", "customer_key": f"k{i:04d}", "is_stub": False}
                                    for i in range(n_customers)])
    store.bulk_insert("products", [{"product_id": f"p{j}", "title": f"thing {j}", "category": "A" if j < 8 else "B",
                                    "is_stub": False} for j in range(n_products)])
    rows = []
    for i in range(n_customers):
        home = np.arange(0, 8) if i % 2 == 0 else np.arange(8, 16)
        for n, j in enumerate(rng.choice(home, size=7, replace=False)):
            rows.append({"event_id": f"e{i}_{n}", "customer_id": f"c{i}", "product_id": f"p{j}", "event_type": "view",
                         "ts": T0 + timedelta(days=n, hours=i), "value": 1.0})
    store.bulk_insert("events", rows)


def test_registered_between_quality_and_profiles():
    names = [s.split(":")[1] for s in STAGES]
    assert "RECOMMEND" in names
    assert names.index("RECOMMEND") > names.index("QUALITY")
    if "PROFILES" in names:
        assert names.index("RECOMMEND") < names.index("PROFILES")


def test_stage_trains_registers_and_reports(store, settings):
    _seed(store)
    ctx = RunContext(settings=settings, store=store, data_dir=None, seed=42, progress=False,
                     artifacts={"recommend_models": ["popular", "itemknn", "ease"]})
    res = RECOMMEND.run(ctx)
    assert res.status == "ok", res.message
    assert res.figures["best_model"] in {"popular", "itemknn", "ease"}
    assert set(res.figures["models"]) == {"popular", "itemknn", "ease"}
    assert ctx.artifacts["interactions"].n_users == 40
    model = ctx.artifacts["recommender"]
    assert len(model.recommend(["c0"], k=3)) == 3
    versions = list_models(store, "recommender")
    assert [(v.version, v.status) for v in versions] == [(1, "active")]
    assert versions[0].params["algorithm"] == res.figures["best_model"]
    assert "ndcg@10" in versions[0].metrics
    assert load(store, "recommender").recommend(["c0"], k=3)["item_id"].tolist() == \
        model.recommend(["c0"], k=3)["item_id"].tolist()
    sec = res.sections[0]
    assert "<table>" in sec.html and len(sec.images) == 2
    # the best model against the other two, paired by user, in the figures and in the report
    lead = res.figures["versus_best"]
    assert set(lead) == {"popular", "itemknn", "ease"} - {res.figures["best_model"]}
    assert all(d["low"] <= d["diff"] <= d["high"] for ms in lead.values() for d in ms.values())
    assert "Paired by user" in sec.html
    d = lead[next(iter(lead))]["ndcg@10"]
    assert f"{d['diff']:+.4f} [{d['low']:+.4f}, {d['high']:+.4f}]" in sec.html  # the paired table shows the figures
    assert res.figures["repeat_share"] == 0.0 and "already touched" not in sec.html  # nobody came back here
    # the best model's lists against the runner-up's
    lists = res.figures["lists_versus_runner_up"]
    assert lists["model"] in lead and lists["shared"] + lists["only_a"] <= 10 * lists["users"]
    assert f"Top-10 lists: {res.figures['best_model']} and {lists['model']} " in sec.html


def test_stage_skips_without_events(store, settings):
    res = RECOMMEND.run(RunContext(settings=settings, store=store, data_dir=None, progress=False))
    assert res.status == "skipped"


def test_default_models_leave_out_what_the_data_cannot_run(store, settings):
    _seed(store)
    ctx = RunContext(settings=settings, store=store, data_dir=None, seed=42, progress=False)
    data = Interactions.from_store(store)
    ctx.artifacts["interactions"] = Interactions.from_frame(
        data.log.assign(user=data.user_ids[data.log["user_idx"]], item=data.item_ids[data.log["item_idx"]]),
        user="user", item="item", time="time")  # the same events, without product categories
    res = RECOMMEND.run(ctx)
    assert res.status == "ok", res.message
    assert res.figures["skipped_models"] == {"category": "needs at least two distinct product category values"}
    assert set(res.figures["models"]) == {"popular", "itemknn", "als", "ease", "hybrid"}
    assert "Left out category: needs at least two distinct product category values." in res.sections[0].html


def test_stage_says_how_much_customers_come_back(store, settings):
    _seed(store)
    # each customer returns to the first product they viewed, after everything else
    first = store.read_frame("SELECT customer_id, product_id FROM events WHERE event_id LIKE '%\\_0' ESCAPE '\\'")
    store.bulk_insert("events", [{"event_id": f"back_{r.customer_id}", "customer_id": r.customer_id,
                                  "product_id": r.product_id, "event_type": "view",
                                  "ts": T0 + timedelta(days=30), "value": 1.0} for r in first.itertuples()])
    ctx = RunContext(settings=settings, store=store, data_dir=None, seed=42, progress=False,
                     artifacts={"recommend_models": ["popular"]})
    res = RECOMMEND.run(ctx)
    assert res.status == "ok", res.message
    # per customer 8 events, the latest 2 held out: one new product and the one they came back to
    assert res.figures["repeat_share"] == 0.5
    assert "50% of the products customers turned to" in res.sections[0].html
    assert "--include-seen" in res.sections[0].html
