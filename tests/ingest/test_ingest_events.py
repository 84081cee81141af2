"""Ingesting events: counts add up, duplicates are skipped, stubs are created, re-ingest adds nothing."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest

from persona.ingest import ingest_file
from persona.privacy.crypto import PIICipher

CIPHER = PIICipher(b"t" * 32)


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _quarantine(report) -> list[dict]:
    with open(report.quarantine, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _check(report) -> None:
    assert report.read == report.accepted + report.duplicates + report.rejected


EVENTS = """user_id,item_id,event_type,timestamp,revenue,referrer
u1,p1,view,2019-10-01 00:00:00 UTC,,google
u1,p1,purchase,2019-10-01 00:05:00 UTC,9.99,
u2,p2,Add To Cart,1570000000,,
u2,p2,view,garbage,,
u1,p1,view,2019-10-01 00:00:00 UTC,,google
u3,,email_open,1570000000123,,
,p3,view,2019-10-02,,
u4,p4,click,2019-10-02,abc,
"""


def test_events_with_map_counts_stubs_and_reingest(any_store, tmp_path):
    f = _write(tmp_path / "ev.csv", EVENTS)
    rep = ingest_file(any_store, "events", f, mapping=["user_id=customer_id", "item_id=product_id"], cipher=CIPHER)
    _check(rep)
    assert (rep.read, rep.accepted, rep.duplicates, rep.rejected) == (8, 4, 1, 3)
    assert rep.stubs == {"customers": 3, "products": 2}
    rows = _quarantine(rep)
    assert [r["line"] for r in rows] == ["5", "8", "9"]
    assert "unparseable timestamp 'garbage'" in rows[0]["reason"] and rows[0]["raw"] == "u2,p2,view,garbage,,"
    assert rows[1]["reason"] == "missing customer_id"
    assert "revenue is not a number: 'abc'" in rows[2]["reason"]

    ev = any_store.read_frame("SELECT customer_id, product_id, event_type, ts, revenue, context FROM events ORDER BY ts, event_type")
    assert sorted(ev["event_type"]) == ["add_to_cart", "email_open", "purchase", "view"]
    assert pd.to_datetime(ev["ts"], utc=True, format="mixed").min() == pd.Timestamp("2019-10-01", tz="UTC")
    ts_ms = pd.to_datetime(ev.loc[ev.event_type == "email_open", "ts"], utc=True, format="mixed").iloc[0]
    assert ts_ms == pd.Timestamp(1570000000123, unit="ms", tz="UTC")  # ms detected, kept exactly
    assert ev.loc[ev.event_type == "purchase", "revenue"].iloc[0] == pytest.approx(9.99)
    stubs = any_store.read_frame("SELECT customer_id, is_stub, customer_key FROM customers ORDER BY customer_id")
    assert stubs["customer_id"].tolist() == ["u1", "u2", "u3"] and stubs["is_stub"].astype(bool).all()
    assert stubs["customer_key"].tolist() == CIPHER.pseudonyms(["u1", "u2", "u3"])
    assert any_store.count("products") == 2

    again = ingest_file(any_store, "events", f, mapping={"user_id": "customer_id", "item_id": "product_id"}, cipher=CIPHER)
    _check(again)
    assert (again.accepted, again.duplicates, again.rejected) == (0, 5, 3)
    assert any_store.count("events") == 4 and any_store.count("customers") == 3


def test_event_ids_given_and_context_kept(store, tmp_path):
    f = _write(tmp_path / "ev.csv", "event_id,customer_id,event_type,timestamp,campaign\n"
                                    "e1,c1,view,2020-01-01T10:00:00Z,spring\ne1,c1,view,2020-01-01T10:00:00Z,spring\n"
                                    "e2,c1,view,2020-01-01T10:00:00Z,\n")
    rep = ingest_file(store, "events", f, cipher=CIPHER)
    assert (rep.accepted, rep.duplicates) == (2, 1)
    ev = store.read_frame("SELECT event_id, context FROM events ORDER BY event_id")
    assert ev["event_id"].tolist() == ["e1", "e2"]
    assert ev["context"].iloc[0] in ('{"campaign":"spring"}', {"campaign": "spring"}) and ev["context"].iloc[1] is None


def test_unknown_event_types_kept(store, tmp_path):
    f = _write(tmp_path / "ev.csv", "customer_id,event_type,timestamp\nc1,Loyalty Points Redeemed,2020-01-01\n")
    report = ingest_file(store, "events", f, cipher=CIPHER)
    assert store.read_frame("SELECT event_type FROM events")["event_type"].tolist() == ["loyalty_points_redeemed"]
    assert report.unknown_event_types == {"loyalty_points_redeemed": 1}


def test_events_of_types_persona_does_not_use_are_counted_and_named(store, tmp_path, capsys):
    from persona.cli.ingest import _show

    rows = "".join(f"c{i},{t},2020-01-0{1 + i % 9}\n" for i, t in enumerate(["order_completed"] * 3 + ["view", "purchase"]
                                                                            + ["page_ping"] * 2))
    f = _write(tmp_path / "ev.csv", "customer_id,event_type,timestamp\n" + rows + "c9,,2020-01-01\n")
    report = ingest_file(store, "events", f, cipher=CIPHER)
    assert report.unknown_event_types == {"order_completed": 3, "page_ping": 2} and report.rejected == 1
    _show(report, False, title="ingested")
    err = " ".join(capsys.readouterr().err.split())
    assert "5 event(s) read of types Persona does not use" in err and "order_completed (3), page_ping (2)" in err
    assert "(order_completed → purchase)" in err
    assert report.as_dict()["unknown_event_types"] == {"order_completed": 3, "page_ping": 2}  # in --json too


def test_chunks_and_large_load_rebuild_indexes(store, tmp_path, monkeypatch):
    from sqlalchemy import inspect

    import persona.ingest.runner as runner

    monkeypatch.setattr(runner, "DEFER_INDEX_ROWS", 10)
    lines = ["customer_id,product_id,event_type,timestamp,value"]
    lines += [f"c{i % 13},p{i % 7},view,{1_600_000_000 + i},{i}" for i in range(250)]
    f = _write(tmp_path / "ev.csv", "\n".join(lines) + "\n")
    rep = ingest_file(store, "events", f, chunk_size=40, cipher=CIPHER)
    assert (rep.read, rep.accepted) == (250, 250) and rep.stubs == {"customers": 13, "products": 7}
    names = {ix["name"] for ix in inspect(store.engine).get_indexes("events")}
    assert {"ix_events_customer_id", "ix_events_ts", "ix_events_event_type", "ix_events_product_id"} <= names
    with store.engine.begin() as c:  # a killed load leaves indexes dropped: the next ingest repairs them
        c.exec_driver_sql("DROP INDEX ix_events_ts")
    ingest_file(store, "events", f, chunk_size=1000, cipher=CIPHER)
    assert "ix_events_ts" in {ix["name"] for ix in inspect(store.engine).get_indexes("events")}


def test_extra_text_columns_become_context_json_exactly(store, tmp_path):
    import json

    from persona.ingest.coerce import _extras, extras_json

    frame = pd.DataFrame({"device": ["mobile", " ", None, 'a"b\\c', "x\ny\tz", "中文", "end,"],
                          "page url": ["/p?q=1", None, None, "é", None, "\u2028", None]}).astype("string[pyarrow]")
    fast = extras_json(frame)
    want = [None if d is None else json.dumps(d, ensure_ascii=False, separators=(",", ":")) for d in _extras(frame)]
    assert [None if v is pd.NA else v for v in fast] == want  # built in Arrow, same text as the per-row dicts give
    assert extras_json(pd.DataFrame({"d": ["a\x01b"]})) is None  # other control characters: the general path
    assert extras_json(pd.DataFrame({"n": [1.5]})) is None  # non-text columns too
    f = _write(tmp_path / "ev.csv", 'event_id,customer_id,event_type,timestamp,device,note\n'
                                    'e1,c1,view,2020-01-01,mobile,"said ""hi"""\ne2,c1,view,2020-01-02,,\n')
    ingest_file(store, "events", f, cipher=CIPHER)
    ctx = store.read_frame("SELECT context FROM events ORDER BY event_id")["context"].tolist()
    assert [c if c is None or isinstance(c, dict) else json.loads(c) for c in ctx] == [{"device": "mobile", "note": 'said "hi"'}, None]
