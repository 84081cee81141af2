"""The profiles, segments and predict stages of ``persona run`` on a small demo shop in a store."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import insert

from persona.pipeline.stage import RunContext
from persona.store import Store
from persona.store.models import Customer, Event, Product

demo_shop = pytest.importorskip("persona.demo.shop")


def _load_demo(store: Store) -> None:
    shop = demo_shop.build_shop(customers=400, products=120, days=300, seed=3)
    ts = lambda s: list(pd.DatetimeIndex(pd.to_datetime(s, utc=True, errors="coerce")).to_pydatetime())  # noqa: E731
    c = shop.customers
    p = shop.products
    e = shop.events
    nz = lambda v: None if pd.isna(v) else v  # noqa: E731
    with store.session() as s:
        s.execute(insert(Customer), [
            {"customer_id": r.customer_id, "customer_key": f"k{i}", "gender": r.gender, "birth_year": int(r.birth_year),
             "country": r.country, "created_at": t}
            for i, (r, t) in enumerate(zip(c.itertuples(), ts(c["created_at"]), strict=True))
        ])
        s.execute(insert(Product), [{"product_id": r.product_id, "category": r.category, "brand": r.brand, "price": float(r.price)}
                                    for r in p.itertuples()])
        rows = [
            {"event_id": r.event_id, "customer_id": r.customer_id, "product_id": r.product_id or None, "event_type": r.event_type,
             "ts": t, "quantity": nz(r.quantity), "revenue": nz(r.revenue), "channel": r.channel}
            for r, t in zip(e.itertuples(), ts(e["timestamp"]), strict=True)
        ]
        for i in range(0, len(rows), 10_000):
            s.execute(insert(Event), rows[i : i + 10_000])


def test_profiles_segments_predict_stages(store: Store) -> None:
    from persona.pipeline.stages.predict import PREDICT
    from persona.pipeline.stages.profiles import PROFILES, SEGMENTS

    _load_demo(store)
    ctx = RunContext(settings=store.settings, store=store, data_dir=None, seed=1, progress=False)
    prof = PROFILES.run(ctx)
    assert prof.status == "ok" and prof.figures["profiles"] == store.count("profiles") > 0
    seg = SEGMENTS.run(ctx)
    assert seg.status == "ok" and set(seg.figures) == {"rfm", "kmeans"}
    assert len(seg.sections) == 2 and all(s.images for s in seg.sections)
    assert store.count("segment_memberships") == 2 * store.count("profiles")
    pred = PREDICT.run(ctx)
    assert pred.status == "ok"
    assert 0.5 < pred.figures["churn"]["auc"] <= 1 and 0.5 < pred.figures["propensity"]["auc"] <= 1
    names = set(store.read_frame("SELECT DISTINCT name FROM predictions")["name"])
    assert {"churn_probability", "purchase_propensity", "predicted_spend"} <= names
    assert any(n.startswith("propensity_") and n != "purchase_propensity" for n in names)
    assert "<script" not in "".join(s.html for s in pred.sections)


def test_predict_stage_skips_with_the_reason_when_no_backtest_is_possible(store: Store) -> None:
    # a long browsing history but purchases only in its last days (as a click log's head): nothing to learn from
    from persona.pipeline.stages.predict import PREDICT

    start = pd.Timestamp("2024-01-01", tz="UTC")
    with store.session() as s:
        s.execute(insert(Customer), [{"customer_id": f"c{i}", "customer_key": f"k{i}"} for i in range(20)])
        s.execute(insert(Product), [{"product_id": f"p{j}"} for j in range(5)])
        s.execute(insert(Event), [
            {"event_id": f"v{d}-{i}", "customer_id": f"c{i}", "product_id": f"p{d % 5}", "event_type": "view",
             "ts": (start + pd.Timedelta(days=d)).to_pydatetime()} for d in range(0, 200, 3) for i in range(20)
        ] + [{"event_id": f"b{i}", "customer_id": f"c{i}", "product_id": "p1", "event_type": "purchase",
              "ts": (start + pd.Timedelta(days=199)).to_pydatetime()} for i in range(3)])
    res = PREDICT.run(RunContext(settings=store.settings, store=store, data_dir=None, seed=1, progress=False))
    assert res.status == "skipped" and "no eligible customers" in res.message, res.message


def test_segments_stage_builds_what_the_data_allows(store: Store) -> None:
    # a ratings log (as MovieLens): no purchase, so RFM is undefined, but k-means on the profiles still runs
    from persona.pipeline.stages.profiles import PROFILES, SEGMENTS

    rng = np.random.default_rng(0)
    start = pd.Timestamp("2024-01-01", tz="UTC")
    with store.session() as s:
        s.execute(insert(Customer), [{"customer_id": f"c{i}", "customer_key": f"k{i}"} for i in range(60)])
        s.execute(insert(Product), [{"product_id": f"p{j}", "category": f"g{j % 4}"} for j in range(30)])
        s.execute(insert(Event), [
            {"event_id": f"r{n}", "customer_id": f"c{n % 60}", "product_id": f"p{rng.integers(0, 30)}", "event_type": "rating",
             "value": float(rng.integers(1, 6)), "ts": (start + pd.Timedelta(hours=int(n))).to_pydatetime()}
            for n in range(1500)
        ])
    ctx = RunContext(settings=store.settings, store=store, data_dir=None, seed=1, progress=False)
    assert PROFILES.run(ctx).status == "ok"
    seg = SEGMENTS.run(ctx)
    assert seg.status == "ok" and set(seg.figures) == {"kmeans", "skipped"}
    assert "rfm not built" in seg.message and "purchased" in seg.message
