"""Store.bulk_insert on SQLite and PostgreSQL: insert, ignore duplicates, upsert changed rows, all-or-nothing."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest
from sqlalchemy import text

from persona.errors import InputError


def _events(n: int, start: int = 0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "event_id": [f"e{i}" for i in range(start, start + n)],
            "customer_id": [f"c{i % 7}" for i in range(start, start + n)],
            "product_id": [None if i % 5 == 0 else f"p{i % 3}" for i in range(start, start + n)],
            "event_type": ["view"] * n,
            "ts": pd.to_datetime([1_570_000_000 + i for i in range(start, start + n)], unit="s", utc=True),
            "value": [float(i) if i % 4 else None for i in range(start, start + n)],
            "context": [{"k": i, "s": "x,\"y\"\n"} if i % 2 else None for i in range(start, start + n)],
        }
    )


def test_bulk_insert_roundtrip_and_ignore(any_store):
    assert any_store.bulk_insert("events", _events(50), key=["event_id"]) == 50
    assert any_store.bulk_insert("events", _events(50, start=25), key=["event_id"]) == 25  # 25 duplicates skipped
    assert any_store.count("events") == 75
    df = any_store.read_frame("SELECT event_id, product_id, ts, value, context FROM events WHERE event_id IN ('e1', 'e5')")
    df = df.set_index("event_id")
    assert df.loc["e5", "product_id"] is None and pd.isna(df.loc["e1", "value"]) is False
    assert pd.to_datetime(df.loc["e1", "ts"], utc=True) == datetime.fromtimestamp(1_570_000_001, UTC)
    ctx = df.loc["e1", "context"]
    ctx = ctx if isinstance(ctx, dict) else __import__("json").loads(ctx)
    assert ctx == {"k": 1, "s": "x,\"y\"\n"}


def test_bulk_upsert_counts_changed_rows_only(any_store):
    rows = [
        {"product_id": "p1", "title": "A", "price": 1.0, "is_stub": False, "row_hash": "h1"},
        {"product_id": "p2", "title": "B", "price": None, "is_stub": False, "row_hash": "h2"},
    ]
    assert any_store.bulk_insert("products", rows, on_conflict="update", change_column="row_hash") == 2
    rows[1] = {**rows[1], "title": "B2", "row_hash": "h2b"}
    assert any_store.bulk_insert("products", rows, on_conflict="update", change_column="row_hash") == 1
    got = any_store.read_frame("SELECT product_id, title FROM products ORDER BY product_id")
    assert got["title"].tolist() == ["A", "B2"]


def test_bulk_is_all_or_nothing(any_store):
    with pytest.raises(RuntimeError), any_store.bulk() as w:
        assert w.insert("events", _events(10), key=["event_id"]) == 10
        raise RuntimeError("crash mid-chunk")
    assert any_store.count("events") == 0


def test_bulk_rejects_unknown_columns(any_store):
    with pytest.raises(InputError, match="not in table"):
        any_store.bulk_insert("events", [{"event_id": "x", "nope": 1}])
    with pytest.raises(InputError, match="unknown table"):
        any_store.bulk_insert("nope", [{"a": 1}])


def test_bulk_bytes_and_booleans(any_store):
    rows = [{"customer_id": "c1", "customer_key": "k1", "email_enc": b"\x00\x01\xffP1", "is_stub": True}]
    assert any_store.bulk_insert("customers", rows) == 1
    with any_store.engine.connect() as c:
        enc, stub = c.execute(text("SELECT email_enc, is_stub FROM customers")).one()
    assert bytes(enc) == b"\x00\x01\xffP1" and bool(stub) is True
