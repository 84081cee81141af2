"""Profiles in the store: full build, incremental rebuild touching only changed customers, show, CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, select
from typer.testing import CliRunner

from persona.errors import NotFoundError
from persona.profiles import build_and_store, get_profile, read_profiles
from persona.store import Store
from persona.store.models import Customer, Event, Product, Profile


def _seed(store: Store) -> None:
    ts = lambda d: datetime(2024, 1, d, 12, tzinfo=UTC)  # noqa: E731
    with store.session() as s:
        s.execute(insert(Customer), [
            {"customer_id": c, "customer_key": f"k{c}", "email_enc": b"secret", "birth_year": 1990, "country": "DE", "created_at": ts(1)}
            for c in ("A", "B", "C")
        ])
        s.execute(insert(Product), [{"product_id": "p1", "category": "Home", "brand": "x", "price": 10.0},
                                    {"product_id": "p2", "category": "Books", "brand": "y", "price": 20.0}])
        s.execute(insert(Event), [
            {"event_id": "e1", "customer_id": "A", "product_id": "p1", "event_type": "purchase", "ts": ts(2), "quantity": 1, "revenue": 10.0},
            {"event_id": "e2", "customer_id": "A", "product_id": "p2", "event_type": "purchase", "ts": ts(5), "quantity": 1, "revenue": 20.0},
            {"event_id": "e3", "customer_id": "B", "product_id": "p2", "event_type": "view", "ts": ts(6)},
            {"event_id": "e4", "customer_id": "C", "product_id": "p1", "event_type": "purchase", "ts": ts(7), "quantity": 2, "revenue": 20.0},
        ])


def _rows(store: Store) -> dict[str, tuple]:
    with store.session() as s:
        return {r.customer_id: (r.updated_at, r.features["frequency"]) for r in s.execute(select(Profile)).scalars()}


def test_incremental_build_touches_only_customers_with_new_events(any_store: Store) -> None:
    _seed(any_store)
    first = build_and_store(any_store)
    assert first["mode"] == "full" and first["rebuilt"] == 3
    before = _rows(any_store)
    again = build_and_store(any_store)
    assert again["mode"] == "incremental" and again["rebuilt"] == 0
    assert _rows(any_store) == before
    with any_store.session() as s:  # one new purchase by B
        s.execute(insert(Event), [{"event_id": "e5", "customer_id": "B", "product_id": "p1", "event_type": "purchase",
                                   "ts": datetime(2024, 1, 9, tzinfo=UTC), "quantity": 1, "revenue": 10.0}])
    third = build_and_store(any_store)
    assert third == {**third, "mode": "incremental", "rebuilt": 1}
    after = _rows(any_store)
    assert after["A"] == before["A"] and after["C"] == before["C"]
    assert after["B"][0] > before["B"][0] and (before["B"][1], after["B"][1]) == (0, 1)
    full = build_and_store(any_store, full=True)
    assert full["mode"] == "full" and full["rebuilt"] == 3


def test_show_and_read(store: Store) -> None:
    _seed(store)
    build_and_store(store)
    p = get_profile(store, "A")
    assert p["features"]["frequency"] == 2 and p["features"]["monetary"] == 30.0
    assert "secret" not in json.dumps(p["features"]) and "email_enc" not in p["features"]
    frame = read_profiles(store)
    assert set(frame.index) == {"A", "B", "C"} and frame.loc["A", "recency_days"] == pytest.approx(2.0)
    with pytest.raises(NotFoundError, match="no profile for customer 'nobody'"):
        get_profile(store, "nobody")


def test_cli_build_and_show(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    from persona.cli.main import app
    from persona.config import load_settings

    monkeypatch.delenv("PERSONA_DATABASE_URL", raising=False)
    ws = tmp_path / "ws"
    runner = CliRunner()
    assert runner.invoke(app, ["init", "--workspace", str(ws), "--json"]).exit_code == 0
    store = Store(load_settings(ws))
    _seed(store)
    store.dispose()
    for bad in ("nan", "-1", "inf"):  # refused before any work, incremental builds too
        res = runner.invoke(app, ["profiles", "build", "--alpha", bad, "--workspace", str(ws)])
        assert res.exit_code == 2 and "--alpha must be a finite number >= 0" in res.output
    res = runner.invoke(app, ["profiles", "build", "--workspace", str(ws), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["rebuilt"] == 3
    res = runner.invoke(app, ["profiles", "show", "C", "--workspace", str(ws), "--json"])
    assert res.exit_code == 0 and json.loads(res.stdout)["features"]["monetary"] == 20.0
    res = runner.invoke(app, ["profiles", "show", "ZZZ", "--workspace", str(ws)])
    assert res.exit_code != 0
    assert isinstance(res.exception, NotFoundError) or "no profile" in res.output


def test_profiles_store_features_as_json_values(any_store: Store) -> None:
    import numpy as np
    import pandas as pd

    from persona.profiles.repository import write_profiles

    frame = pd.DataFrame({
        "orders": np.array([3, 0], dtype=np.int64),
        "monetary": [np.float64(12.5), np.nan],
        "last_purchase": [pd.Timestamp("2024-01-05 12:00", tz="UTC"), pd.NaT],
        "top_category": ["007", pd.NA],
        "shares": [{"Home": np.float64(0.75), "Books": np.inf}, {}],
        "embedding": [np.array([0.5, -1.0]), np.array([np.nan, 2.0])],
    }, index=pd.Index(["A", "B"], name="customer_id"))
    assert write_profiles(any_store, frame, watermark=7) == 2
    a, b = get_profile(any_store, "A"), get_profile(any_store, "B")
    assert a["features"] == {"orders": 3, "monetary": 12.5, "last_purchase": "2024-01-05T12:00:00+00:00",
                             "top_category": "007", "shares": {"Home": 0.75, "Books": None}, "events_watermark": 7}
    assert b["features"] == {"orders": 0, "monetary": None, "last_purchase": None, "top_category": None, "shares": {},
                             "events_watermark": 7}
    assert (a["embedding"], b["embedding"]) == ([0.5, -1.0], [None, 2.0])
    assert type(a["features"]["orders"]) is int and type(a["features"]["monetary"]) is float
