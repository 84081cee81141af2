"""Bad input: each case gives a clear error or quarantines rows, and the counts always add up."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pandas as pd
import pytest

from persona.errors import DataFileError, InputError, SchemaError
from persona.ingest import ingest_file
from persona.ingest.mapping import parse_map
from persona.privacy.crypto import PIICipher

CIPHER = PIICipher(b"t" * 32)


def _write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def _q(report) -> list[dict]:
    with open(report.quarantine, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_missing_required_columns_lists_found_and_suggests_map(store, tmp_path):
    f = _write(tmp_path / "ev.csv", "user_id,item,type,when\nu1,p1,view,2020-01-01\n")
    with pytest.raises(SchemaError) as ei:
        ingest_file(store, "events", f, cipher=CIPHER)
    msg = str(ei.value)
    assert "missing required column(s) ['customer_id', 'event_type', 'timestamp']" in msg
    assert "found columns: ['user_id', 'item', 'type', 'when']" in msg
    assert "--map user_id=customer_id" in msg and "--map type=event_type" in msg
    assert store.count("events") == 0


def test_wrong_types_are_quarantined_with_reasons(store, tmp_path):
    f = _write(tmp_path / "p.csv", "product_id,price,in_stock,created_at\np1,9.5,yes,2020-01-01\np2,cheap,true,\n"
                                   "p3,1,maybe,\np4,2,0,31/31/2020\n")
    rep = ingest_file(store, "products", f, cipher=CIPHER)
    assert (rep.read, rep.accepted, rep.rejected) == (4, 1, 3)
    reasons = {r["line"]: r["reason"] for r in _q(rep)}
    assert Path(rep.quarantine).stat().st_mode & 0o777 == 0o600  # raw rows may hold PII
    assert reasons["3"] == "price is not a number: 'cheap'"
    assert reasons["4"] == "in_stock is not true/false: 'maybe'"
    assert reasons["5"].startswith("unparseable created_at '31/31/2020'")
    assert store.read_frame("SELECT in_stock FROM products")["in_stock"].astype(bool).tolist() == [True]


def test_duplicate_rows_within_file(store, tmp_path):
    f = _write(tmp_path / "ev.csv", "customer_id,event_type,timestamp\n" + "c1,view,2020-01-01\n" * 5 + "c2,view,2020-01-01\n")
    rep = ingest_file(store, "events", f, cipher=CIPHER)
    assert (rep.read, rep.accepted, rep.duplicates, rep.rejected) == (6, 2, 4, 0)


def test_broken_quoting_is_quarantined_with_lines(store, tmp_path):
    text = ('customer_id,event_type,timestamp,note\nc1,view,2020-01-01,"fine, with comma"\n'
            'c2,view,2020-01-02,"broken\nc3,view,2020-01-03,swallowed\nc4,view,2020-01-04,"x"\nc5,view,2020-01-05,ok\n'
            'c6,view,2020-01-06,"multi\nline note"\nc7,view\n')
    f = _write(tmp_path / "ev.csv", text)
    rep = ingest_file(store, "events", f, cipher=CIPHER)
    assert rep.read == rep.accepted + rep.duplicates + rep.rejected
    rows = _q(rep)
    assert rows[0]["line"] == "3" and "broken quoting" in rows[0]["reason"] and "line 5" in rows[0]["reason"]
    assert rows[1]["line"] == "9" and rows[1]["reason"] == "expected 4 fields like the header, found 2"
    got = store.read_frame("SELECT customer_id, context FROM events ORDER BY customer_id")
    assert got["customer_id"].tolist() == ["c1", "c5", "c6"]  # the legal multi-line note is kept
    notes = [c if isinstance(c, dict) else json.loads(c) for c in got["context"]]
    assert notes[0]["note"] == "fine, with comma" and notes[2]["note"] == "multi\nline note"


def test_wrong_field_count_fast_path(store, tmp_path):
    f = _write(tmp_path / "ev.csv", "customer_id,event_type,timestamp\nc1,view,2020-01-01\nc2,view\n\nc3,view,2020-01-01,extra\n")
    rep = ingest_file(store, "events", f, cipher=CIPHER)
    assert (rep.read, rep.accepted, rep.rejected) == (3, 1, 2)
    assert [r["line"] for r in _q(rep)] == ["3", "5"]


def test_empty_binary_missing_and_header_only(store, tmp_path):
    with pytest.raises(DataFileError, match="empty"):
        ingest_file(store, "events", _write(tmp_path / "e.csv", ""), cipher=CIPHER)
    with pytest.raises(DataFileError, match="binary"):
        ingest_file(store, "events", _write(tmp_path / "b.csv", bytes(range(256)) * 10), cipher=CIPHER)
    with pytest.raises(DataFileError, match="not found"):
        ingest_file(store, "events", tmp_path / "nope.csv", cipher=CIPHER)
    with pytest.raises(DataFileError, match="folder"):
        ingest_file(store, "events", tmp_path, cipher=CIPHER)
    rep = ingest_file(store, "events", _write(tmp_path / "h.csv", "customer_id,event_type,timestamp\n"), cipher=CIPHER)
    assert (rep.read, rep.accepted) == (0, 0)


def test_unknown_entity_and_bad_map(store, tmp_path):
    f = _write(tmp_path / "x.csv", "a\n1\n")
    with pytest.raises(InputError, match="unknown entity 'orders'"):
        ingest_file(store, "orders", f, cipher=CIPHER)
    for bad in (["user_id"], ["=customer_id"], ["a=b", "a=c"]):
        with pytest.raises(InputError, match="--map"):
            parse_map(bad)
    with pytest.raises(SchemaError, match="does not have"):
        ingest_file(store, "events", f, mapping=["nope=customer_id"], cipher=CIPHER)


def test_a_backwards_map_names_the_absent_source_column(store, tmp_path):
    """-m customer_id=bogus used to say customer_id is missing while listing it among the columns found."""
    f = _write(tmp_path / "c.csv", "customer_id,email\nc1,a@example.com\n")
    with pytest.raises(SchemaError) as ei:
        ingest_file(store, "customers", f, mapping=["customer_id=bogus"], cipher=CIPHER)
    msg = ei.value.message
    assert "missing required" not in msg
    assert "the file has no such column" in msg and "'bogus'" in msg and "found columns: ['customer_id', 'email']" in msg
    assert "THEIR_COLUMN=OUR_COLUMN" in ei.value.hint
    g = _write(tmp_path / "d.csv", "user_ref,email\nc1,a@example.com\n")
    with pytest.raises(SchemaError) as ei:
        ingest_file(store, "customers", g, mapping=["customer_id=user_ref"], cipher=CIPHER)
    assert "did you mean --map user_ref=customer_id?" in str(ei.value)
    h = _write(tmp_path / "e.csv", "customer_id,user_ref\nc1,x\n")
    with pytest.raises(SchemaError, match="did you mean --map user_ref=customer_id"):
        ingest_file(store, "customers", h, mapping=["customer_id=user_ref"], cipher=CIPHER)


def test_latin1_semicolon_file(store, tmp_path):
    f = _write(tmp_path / "c.csv", "customer_id;city\nc1;Zürich\n".encode("cp1252"))
    rep = ingest_file(store, "customers", f, cipher=CIPHER)
    assert rep.accepted == 1
    assert store.read_frame("SELECT city FROM customers")["city"].tolist() == ["Zürich"]


def test_jsonl_and_parquet(store, tmp_path):
    j = _write(tmp_path / "ev.jsonl", '{"customer_id": "c1", "event_type": "view", "timestamp": 1600000000, "meta": {"a": 1}}\n'
                                      'not json\n[1,2]\n{"customer_id": 7, "event_type": "view", "timestamp": "2020-09-13"}\n'
                                      '{"event_type": "view", "timestamp": "2020-09-13"}\n')
    rep = ingest_file(store, "events", j, cipher=CIPHER)
    assert (rep.read, rep.accepted, rep.rejected) == (5, 2, 3)
    assert [r["line"] for r in _q(rep)] == ["2", "3", "5"]
    assert "invalid JSON" in _q(rep)[0]["reason"]
    p = tmp_path / "ev.parquet"
    pd.DataFrame({"customer_id": ["c1", "c2", None], "event_type": ["view"] * 3,
                  "timestamp": pd.to_datetime(["2020-01-01", "2020-01-02", "2020-01-03"]), "value": [1.0, None, 3.0]}).to_parquet(p)
    rep = ingest_file(store, "events", p, cipher=CIPHER)
    assert (rep.read, rep.accepted, rep.rejected) == (3, 2, 1)
    ids = store.read_frame("SELECT customer_id FROM events ORDER BY customer_id")["customer_id"].tolist()
    assert ids == ["7", "c1", "c1", "c2"]


def test_format_override_and_unknown_format(store, tmp_path):
    f = _write(tmp_path / "export.txt", '{"customer_id": "c1", "event_type": "view", "timestamp": "2020-01-01"}\n')
    rep = ingest_file(store, "events", f, fmt="jsonl", cipher=CIPHER)
    assert rep.accepted == 1
    with pytest.raises(DataFileError, match="unknown format 'xlsx'"):
        ingest_file(store, "events", f, fmt="xlsx", cipher=CIPHER)
    with pytest.raises(DataFileError, match="not a readable Parquet"):
        ingest_file(store, "events", f, fmt="parquet", cipher=CIPHER)
