"""De-duplication ignores only repeated keys: a NOT NULL or CHECK violation raises, names its column, and rolls back.

SQLite's ``INSERT OR IGNORE`` used to skip such rows silently (no count, no quarantine) where PostgreSQL refused them.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest
from db_rules import add_check

import persona.store.bulk as bulk
from persona.errors import ConstraintError, StoreError
from persona.store.bulk import encode_rows


def _events(customer_ids: list[str | None], start: int = 0) -> pd.DataFrame:
    n = len(customer_ids)
    return pd.DataFrame({
        "event_id": [f"e{i}" for i in range(start, start + n)],
        "customer_id": customer_ids,
        "event_type": "view",
        "ts": datetime(2026, 1, 1, tzinfo=UTC),
    })


def _write(store, frame: pd.DataFrame, path: str, monkeypatch, on_conflict: str = "ignore") -> int:  # noqa: ANN001
    """Insert ``frame`` into events by one of the writer's paths, in one transaction."""
    if path == "rows":
        return store.bulk_insert("events", frame, on_conflict=on_conflict, key=["event_id"])
    monkeypatch.setattr(bulk, "STAGE_MIN_ROWS", 1 if path == "encoded_staged" else 10**9)
    enc = encode_rows("events", frame, store.dialect, unique_key="event_id")
    with store.bulk() as w:
        return w.insert("events", enc, on_conflict=on_conflict, key=["event_id"])


PATHS = ["rows", "encoded", "encoded_staged"]


@pytest.mark.parametrize("path", PATHS)
def test_a_null_in_a_not_null_column_raises_and_writes_nothing(any_store, monkeypatch, path) -> None:  # noqa: ANN001
    with pytest.raises(ConstraintError) as info:
        _write(any_store, _events(["c1", None, "c3"]), path, monkeypatch)
    err = info.value
    assert isinstance(err, StoreError) and err.exit_code == 4
    assert err.table == "events" and err.column == "customer_id"
    assert "events.customer_id" in err.message and "nothing of it was written" in err.message
    assert any_store.count("events") == 0  # the valid rows of the transaction are rolled back with it


@pytest.mark.parametrize("path", PATHS)
def test_duplicates_are_still_skipped_and_counted(any_store, monkeypatch, path) -> None:  # noqa: ANN001
    assert _write(any_store, _events(["c1", "c2"]), path, monkeypatch) == 2
    assert _write(any_store, _events(["c2", "c3", "c4"], start=1), path, monkeypatch) == 2  # e1 repeats
    assert any_store.count("events") == 4


def test_a_null_under_upsert_raises_too(any_store) -> None:  # noqa: ANN001
    with pytest.raises(ConstraintError) as info:
        any_store.bulk_insert("reviews", pd.DataFrame({"review_id": ["r1"], "customer_id": ["c1"], "product_id": [None]}),
                              on_conflict="update")
    assert info.value.column == "product_id"
    assert any_store.count("reviews") == 0


def test_a_check_violation_raises_and_names_the_constraint(any_store) -> None:  # noqa: ANN001
    add_check(any_store.engine, "products", "price_not_negative", "price >= 0")  # a shop's own rule
    rows = pd.DataFrame({"product_id": ["p1", "p2"], "price": [1.0, -5.0], "is_stub": False})
    with pytest.raises(ConstraintError) as info:
        any_store.bulk_insert("products", rows, on_conflict="ignore")
    assert info.value.table == "products" and "price_not_negative" in info.value.message
    assert any_store.count("products") == 0
    assert any_store.bulk_insert("products", rows.iloc[:1], on_conflict="ignore") == 1
    assert any_store.bulk_insert("products", rows.iloc[:1], on_conflict="ignore") == 0  # a repeat is still skipped
