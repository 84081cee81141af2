"""bulk_insert without an explicit key de-duplicates on the natural key when the primary key is a surrogate,
and rows without a generated id (and no other unique key) get it from the sequence."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest

from persona.errors import InputError
from persona.store.bulk import encode_rows


def test_events_default_to_event_id(any_store) -> None:  # noqa: ANN001
    rows = [{"event_id": "e1", "customer_id": "c1", "event_type": "view", "ts": datetime(2026, 1, 1, tzinfo=UTC)}]
    assert any_store.bulk_insert("events", rows) == 1
    assert any_store.bulk_insert("events", rows) == 0
    assert any_store.count("events") == 1


def _audit(n: int, start: int = 0) -> list[dict]:
    return [{"ts": datetime(2026, 1, 1, tzinfo=UTC), "actor": "cli", "action": f"a{i}", "subject": None, "details": {"i": i}}
            for i in range(start, start + n)]


@pytest.mark.parametrize("on_conflict", ["ignore", "error"])
def test_rows_without_a_generated_id_take_it_from_the_sequence(any_store, on_conflict) -> None:  # noqa: ANN001
    """audit_log rows carry no id and no other unique key: each is a new row, whatever the conflict policy."""
    assert any_store.bulk_insert("audit_log", _audit(2), on_conflict=on_conflict) == 2
    assert any_store.bulk_insert("audit_log", _audit(2), on_conflict=on_conflict) == 2  # same content: still new rows
    with any_store.bulk() as w:  # rows encoded off the writer thread take the same path
        assert w.insert("audit_log", encode_rows("audit_log", pd.DataFrame(_audit(3, 10)), any_store.dialect),
                        on_conflict=on_conflict) == 3
    got = any_store.read_frame("SELECT id, action FROM audit_log ORDER BY id")
    assert got["id"].tolist() == [1, 2, 3, 4, 5, 6, 7] and got["action"].tolist() == ["a0", "a1", "a0", "a1", "a10", "a11", "a12"]


def test_rows_with_the_id_still_skip_duplicates_on_it(any_store) -> None:  # noqa: ANN001
    rows = [{"id": 7, **_audit(1)[0]}]
    assert any_store.bulk_insert("audit_log", rows) == 1
    assert any_store.bulk_insert("audit_log", rows) == 0


def test_rows_without_their_key_are_refused_where_nothing_generates_it(any_store) -> None:  # noqa: ANN001
    with pytest.raises(InputError, match="upsert into audit_log needs the key columns"):
        any_store.bulk_insert("audit_log", _audit(1), on_conflict="update")
    with pytest.raises(InputError, match=r"rows for products lack its key \['product_id'\]"):
        any_store.bulk_insert("products", [{"title": "no id"}])
    assert any_store.count("audit_log") == 0 and any_store.count("products") == 0
