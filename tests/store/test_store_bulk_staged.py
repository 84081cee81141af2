"""SQLite chunks staged as an in-memory database (encode_rows in a reader thread, one INSERT … SELECT to write).

The staged path must store exactly what binding each row would: same values and types, same
duplicate counts, same all-or-nothing transaction.
"""

from __future__ import annotations

import sqlite3

import pandas as pd
import pytest

import persona.store.bulk as bulk
from persona.errors import InputError
from persona.store.bulk import STAGE_MIN_ROWS, encode_rows, stage_rows

TRICKY_FLOATS = [0.1, 1e16, 5e-324, 1.7976931348623157e308, 123456789.12345679, -0.0, 2.0**53 + 2, 0.30000000000000004]
TRICKY_TEXT = ["a\x00b", "emoji 😀 ü", 'q"uo\\te', "ctl\x01\t\n\r", "", "ev,1;|"]


def _frame(n: int, start: int = 0) -> pd.DataFrame:
    ids = range(start, start + n)
    return pd.DataFrame({
        "event_id": [f"e{i:07d}" for i in ids],
        "customer_id": [TRICKY_TEXT[i % len(TRICKY_TEXT)] + str(i % 11) for i in ids],
        "product_id": [None if i % 5 == 0 else f"p{i % 3}" for i in ids],
        "event_type": ["view"] * n,
        "ts": pd.to_datetime([1_570_000_000 + i for i in ids], unit="s", utc=True),
        "value": [None if i % 4 == 0 else TRICKY_FLOATS[i % len(TRICKY_FLOATS)] * (i + 1) for i in ids],
        "quantity": [float(i % 3) for i in ids],
    })


def _rows(store, where: str = "") -> list[tuple]:  # noqa: ANN001
    with store.engine.connect() as c:
        raw = c.connection.driver_connection
        return raw.execute(
            "SELECT event_id, customer_id, product_id, event_type, ts, value, quantity, typeof(value), typeof(quantity) "
            f"FROM events {where} ORDER BY event_id").fetchall()


def test_big_chunks_are_staged_and_small_ones_are_not() -> None:
    assert isinstance(encode_rows("events", _frame(STAGE_MIN_ROWS), "sqlite", unique_key="event_id").payload, bytes)
    assert isinstance(encode_rows("events", _frame(10), "sqlite", unique_key="event_id").payload, list)


def test_stage_rows_keeps_values_and_types_exactly() -> None:
    rows = [("x", 1, 2.5, None, b"\x00\xff", "a\x00b", 0.1 + 0.2)]
    con = sqlite3.connect(":memory:")
    con.deserialize(stage_rows(["a", "b", "c", "d", "e", "f", "g"], rows))
    assert con.execute("SELECT * FROM chunk").fetchall() == rows
    assert con.execute("SELECT typeof(c1), typeof(c2), typeof(c3), typeof(c4) FROM chunk").fetchone() == ("integer", "real", "null", "blob")


def test_stage_rows_several_per_statement_keep_order_and_tail() -> None:
    rows = [(f"r{i}", i, None if i % 3 else i / 7) for i in range(37)]  # 37: two statements of 16 and a tail of 5
    con = sqlite3.connect(":memory:")
    con.deserialize(stage_rows(["a", "b", "c"], rows))
    assert con.execute("SELECT * FROM chunk ORDER BY rowid").fetchall() == rows
    wide = [tuple(range(i, i + 100)) for i in range(25)]  # 100 columns: fewer rows per statement, same result
    con2 = sqlite3.connect(":memory:")
    con2.deserialize(stage_rows([f"x{i}" for i in range(100)], wide))
    assert con2.execute("SELECT * FROM chunk ORDER BY rowid").fetchall() == wide


def test_stage_rows_refuses_ragged_rows() -> None:
    with pytest.raises(InputError, match="needs 3 values"):
        stage_rows(["a", "b", "c"], [("x", 1, 2), ("y", 1)])


def test_staged_insert_matches_row_binding(store, monkeypatch) -> None:  # noqa: ANN001
    frame = _frame(300)
    monkeypatch.setattr(bulk, "STAGE_MIN_ROWS", 1)
    staged = encode_rows("events", frame, "sqlite", unique_key="event_id")
    assert isinstance(staged.payload, bytes)
    with store.bulk() as w:
        assert w.insert("customers", pd.DataFrame({"customer_id": ["c0"], "customer_key": ["k0"], "is_stub": [True]})) == 1  # transaction open
        assert w.insert("events", staged, key=["event_id"]) == 300
    got_staged = _rows(store)

    with store.engine.begin() as c:
        c.exec_driver_sql("DELETE FROM events")
    monkeypatch.setattr(bulk, "STAGE_MIN_ROWS", 10**9)
    listed = encode_rows("events", frame, "sqlite", unique_key="event_id")
    assert isinstance(listed.payload, list)
    with store.bulk() as w:
        assert w.insert("events", listed, key=["event_id"]) == 300
    assert _rows(store) == got_staged
    assert got_staged[0][1] == "a\x00b0" and got_staged[1][1] == "emoji 😀 ü1" and got_staged[1][5] == 2e16
    assert {r[7] for r in got_staged} == {"real", "null"} and {r[8] for r in got_staged} == {"real"}


def test_staged_duplicates_counted_and_transaction_all_or_nothing(store, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setattr(bulk, "STAGE_MIN_ROWS", 1)
    with store.bulk() as w:
        assert w.insert("events", encode_rows("events", _frame(100), "sqlite", unique_key="event_id"), key=["event_id"]) == 100
        # a second staged chunk in the same transaction, half of it already stored
        assert w.insert("events", encode_rows("events", _frame(100, 50), "sqlite", unique_key="event_id"), key=["event_id"]) == 50
    assert store.count("events") == 150

    with pytest.raises(RuntimeError), store.bulk() as w:
        assert w.insert("events", encode_rows("events", _frame(100, 1000), "sqlite", unique_key="event_id"), key=["event_id"]) == 100
        raise RuntimeError("killed mid-chunk")
    assert store.count("events") == 150
    with store.engine.connect() as c:  # the staged chunk's memory was given back
        assert c.exec_driver_sql("SELECT name FROM persona_stage.sqlite_master").fetchall() == [("empty",)]


def test_unsupported_staging_falls_back_to_row_binding(store, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setattr(bulk, "STAGE_MIN_ROWS", 1)
    monkeypatch.setattr(bulk, "stage_rows", lambda columns, rows: None)
    enc = encode_rows("events", _frame(20), "sqlite", unique_key="event_id")
    assert isinstance(enc.payload, list)
    with store.bulk() as w:
        assert w.insert("events", enc, key=["event_id"]) == 20
