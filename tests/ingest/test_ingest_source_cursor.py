"""Cursor values: stored type-faithfully, read back equal, and only values that order sensibly are taken."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from persona.errors import CursorError
from persona.ingest.sources.cursor import IncrementalPull, decode_value, encode_value, shown_value, source_key

VALUES = [(7, "integer"), (2.5e-7, "float"), (Decimal("12.340"), "decimal"), (date(2026, 11, 1), "date"),
          (datetime(2026, 11, 1, 10, 0, 0, 123456), "timestamp"),
          (datetime(2026, 11, 1, 10, 0, tzinfo=timezone(timedelta(hours=-5, minutes=-30))), "timestamptz"),
          ("2026-11-01T10:00:00Z", "text")]


@pytest.mark.parametrize(("value", "kind"), VALUES)
def test_values_round_trip_with_their_type(value, kind):
    tag, text = encode_value(value)
    back = decode_value(tag, text)
    assert tag == kind and back == value and type(back) is type(value)
    if isinstance(value, datetime):
        assert back.utcoffset() == value.utcoffset()
    assert shown_value(tag, text) == (value if kind in ("integer", "float") else text)


@pytest.mark.parametrize("value", [True, b"\x00", {"a": 1}, [1], datetime(2026, 1, 1).time()])
def test_values_that_cannot_be_a_cursor_are_refused(value):
    with pytest.raises(CursorError, match="cannot"):
        encode_value(value)


def test_the_largest_value_is_kept_missing_ones_counted_and_mixed_kinds_refused(store):
    pull = IncrementalPull(store, "events", "ts")
    pull.add([3, None, float("nan"), 2.5, Decimal("NaN")])
    pull.add([1])
    assert (pull.largest, pull.missing) == (3, 3)
    aware = IncrementalPull(store, "events", "ts")
    aware.add([datetime(2026, 1, 1, tzinfo=UTC)])
    with pytest.raises(CursorError, match="timestamp with time zone and timestamp without time zone"):
        aware.add([datetime(2026, 1, 2)])
    with pytest.raises(CursorError, match="true/false"):
        IncrementalPull(store, "events", "flag").add([True, False])


def test_the_key_depends_on_entity_source_and_column_only():
    base = source_key("events", ["sqlite:////data/shop.db", "SELECT * FROM e"], "ts")
    assert len(base) == 16 and base == source_key("events", ["sqlite:////data/shop.db", "SELECT * FROM e"], "ts")
    assert len({base, source_key("customers", ["sqlite:////data/shop.db", "SELECT * FROM e"], "ts"),
                source_key("events", ["sqlite:////data/shop.db", "SELECT * FROM f"], "ts"),
                source_key("events", ["sqlite:////data/shop.db", "SELECT * FROM e"], "id")}) == 4
