"""bulk_insert without an explicit key de-duplicates on the natural key when the primary key is a surrogate."""

from __future__ import annotations

from datetime import UTC, datetime


def test_events_default_to_event_id(any_store) -> None:  # noqa: ANN001
    rows = [{"event_id": "e1", "customer_id": "c1", "event_type": "view", "ts": datetime(2026, 1, 1, tzinfo=UTC)}]
    assert any_store.bulk_insert("events", rows) == 1
    assert any_store.bulk_insert("events", rows) == 0
    assert any_store.count("events") == 1
