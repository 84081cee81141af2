"""NaN is missing: every path of the bulk writer stores a float NaN as NULL, and NaN or ±inf inside JSON as null."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

import persona.store.bulk as bulk
from persona.store.bulk import encode_rows


def _events(start: int = 0) -> pd.DataFrame:
    n = 4
    zero = pd.array([0.0, 1.0, 1.0, 1.0], dtype="Float64")
    return pd.DataFrame({
        "event_id": [f"e{i}" for i in range(start, start + n)],
        "customer_id": "c1",
        "event_type": "view",
        "ts": datetime(2026, 1, 1, tzinfo=UTC),
        "value": np.array([1.5, np.nan, np.inf, -np.inf]),  # numpy float64
        "quantity": pd.Series([float("nan"), None, 2.0, 3.0], dtype=object),  # object column
        # Float64 holding a real NaN (0/0), which pandas keeps apart from <NA>
        "revenue": pd.array([0.0, None, 3.0, 4.0], dtype="Float64") / zero,
        "context": [{"score": float("nan"), "xs": [1.0, float("inf"), {"y": -float("inf")}]}, pd.NA, {"ok": 1}, float("nan")],
    })


WANT_NULLS = [("e0", False, True, True), ("e1", True, True, True), ("e2", False, False, False), ("e3", False, False, False)]


def _nulls(store, start: int = 0) -> list[tuple]:  # noqa: ANN001
    df = store.read_frame("SELECT event_id, value IS NULL AS v, quantity IS NULL AS q, revenue IS NULL AS r FROM events "
                          "ORDER BY event_id")
    return [(e, bool(v), bool(q), bool(r)) for e, v, q, r in df.itertuples(index=False)]


def _contexts(store) -> list:  # noqa: ANN001
    got = store.read_frame("SELECT context FROM events ORDER BY event_id")["context"].tolist()
    return [json.loads(c) if isinstance(c, str) else c for c in got]


def _check(store) -> None:  # noqa: ANN001
    assert _nulls(store) == WANT_NULLS
    assert store.read_frame("SELECT value FROM events WHERE event_id IN ('e2', 'e3') ORDER BY event_id")["value"].tolist() == [
        np.inf, -np.inf]  # infinities are values, kept
    assert _contexts(store) == [{"score": None, "xs": [1.0, None, {"y": None}]}, None, {"ok": 1}, None]
    if store.dialect == "postgresql":
        n = store.read_frame("SELECT count(*) AS n FROM events WHERE 'NaN'::float8 IN (value, quantity, revenue)")["n"][0]
        assert n == 0


@pytest.mark.parametrize("path", ["rows", "encoded", "encoded_staged", "encoded_suspended"])
def test_nan_is_stored_as_null_on_every_path(any_store, monkeypatch, path) -> None:  # noqa: ANN001
    """SQLite: executemany, encoded rows, staged database; PostgreSQL: COPY via a temp table, direct COPY, COPY with keys off."""
    if path == "rows":
        assert any_store.bulk_insert("events", _events()) == 4
    else:
        monkeypatch.setattr(bulk, "STAGE_MIN_ROWS", 1 if path == "encoded_staged" else 10**9)
        enc = encode_rows("events", _events(), any_store.dialect, unique_key="event_id")
        with any_store.bulk() as w:
            suspended = path == "encoded_suspended" and w.suspend_keys("events")
            assert suspended is (path == "encoded_suspended" and any_store.dialect == "postgresql")
            assert w.insert("events", enc, key=["event_id"]) == 4
            if suspended:
                assert w.restore_keys("events") == 0
    _check(any_store)


def test_an_upsert_writes_nan_as_null_and_counts_it_unchanged_after(any_store) -> None:  # noqa: ANN001
    rows = pd.DataFrame({"product_id": ["p1", "p2"], "price": [1.0, None], "is_stub": False})
    assert any_store.bulk_insert("products", rows, on_conflict="update") == 2
    nan = rows.assign(price=[np.nan, np.nan])
    assert any_store.bulk_insert("products", nan, on_conflict="update") == 1  # p1: 1.0 -> NULL; p2 was NULL already
    assert any_store.bulk_insert("products", nan, on_conflict="update") == 0
    assert any_store.read_frame("SELECT count(*) AS n FROM products WHERE price IS NULL")["n"][0] == 2
