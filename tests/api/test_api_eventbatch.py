"""The fast path of ``POST /v1/events`` (persona.api.eventbatch + persona.api.eventsink) against file ingestion and
the models + coercer it replaces: same rows stored, same content hashes, same rejections and reasons, exact counts
under retries and concurrent writers."""

from __future__ import annotations

import csv
import json
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("fastapi")
pytest.importorskip("orjson")

from persona.api.eventbatch import EventIn, _all_stripped, _fast, _NotPlain, dump_frame, json_text, read_batch  # noqa: E402
from persona.api.eventsink import EventSink  # noqa: E402
from persona.config import load_settings  # noqa: E402
from persona.ingest import ingest_file  # noqa: E402
from persona.ingest.coerce import ChunkCoercer, as_text, to_objects  # noqa: E402
from persona.ingest.mapping import resolve_columns  # noqa: E402
from persona.ingest.schema import get_spec  # noqa: E402
from persona.privacy.crypto import create_key_file  # noqa: E402
from persona.store import Store  # noqa: E402

T = "2026-06-01T12:00:00Z"
TRICKY: list[dict[str, Any]] = [
    {"event_id": "e1", "customer_id": "c1", "product_id": "p1", "event_type": "view", "timestamp": T, "value": 1},
    {"event_id": " e2 ", "customer_id": " c2", "product_id": "p2 ", "event_type": "Add To-Cart",
     "timestamp": "2026-06-01T14:00:00+02:00", "quantity": 2, "revenue": 9.5, "channel": " web ", "session_id": "s1"},
    {"customer_id": "c3", "product_id": "p1", "event_type": "purchase", "timestamp": "2026-06-01T12:00:00.123456Z",
     "revenue": 19.99},  # no id: content hash
    {"customer_id": "c3", "event_type": "view", "timestamp": "2026-06-01T12:00:00"},  # no id, no product, naive time
    {"customer_id": "c3", "event_type": "view", "timestamp": "2026-06-01T12:00:00"},  # same content: a duplicate
    {"event_id": "e5", "customer_id": "c4", "event_type": "Some New Type", "timestamp": "1850-01-01T00:00:00Z"},
    {"event_id": "e6", "customer_id": "c4", "event_type": "view", "timestamp": "2300-01-01T00:00:00Z"},
    {"event_id": "e7", "customer_id": "   ", "event_type": "view", "timestamp": T},  # blank customer
    {"event_id": "e8", "customer_id": "c5", "event_type": " \t ", "timestamp": T},  # blank type
    {"event_id": "e1", "customer_id": "c9", "event_type": "click", "timestamp": T},  # id repeated in the batch
    {"event_id": "", "customer_id": "c6", "product_id": "", "event_type": "wishlist", "timestamp": T, "value": 0},
    {"event_id": "e10", "customer_id": "ç-ünï", "product_id": "p\u00a0", "event_type": "VIEW", "timestamp": T,
     "page": "/home", "ref": " x "},
    {"event_id": "e11", "customer_id": "c7", "event_type": "custom_thing", "timestamp": "1900-01-01T00:00:00Z",
     "page": "/cart"},
    {"event_id": "e12", "customer_id": "c7", "event_type": "view", "timestamp": "2199-12-31T23:59:59.999999Z"},
    {"event_id": "e13", "customer_id": "c7", "event_type": "view", "timestamp": "1900-01-01T00:30:00+01:00"},  # 1899 UTC
    {"event_id": "e14", "customer_id": "c8", "product_id": "p3", "event_type": "email-open", "timestamp": T,
     "value": -2.5, "quantity": 3.0, "revenue": 0.1, "channel": "email", "session_id": " "},
]


def _body(events: list[dict[str, Any]]) -> bytes:
    return json.dumps({"events": events}).encode()


def _dumps(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What the models make of each event (the input the sink coerced before the fast path)."""
    return [EventIn.model_validate_json(json.dumps(e)).model_dump(mode="json") for e in events]


def _events(store: Store) -> pd.DataFrame:
    f = store.read_frame("SELECT event_id, customer_id, product_id, event_type, ts, value, quantity, revenue, channel, "
                         "session_id, context FROM events ORDER BY event_id")
    f["ts"] = pd.to_datetime(f["ts"], utc=True)
    f["context"] = [json.loads(c) if isinstance(c, str) else c for c in f["context"]]
    return f.astype(object).where(f.notna(), None).reset_index(drop=True)


def _stubs(store: Store, table: str) -> list[tuple[str, bool]]:
    key = "customer_id" if table == "customers" else "product_id"
    f = store.read_frame(f"SELECT {key}, is_stub FROM {table} ORDER BY {key}")
    return [(str(k), bool(s)) for k, s in zip(f[key], f["is_stub"], strict=True)]


def _quarantined(path: str | None) -> list[tuple[int, str]]:
    if not path:
        return []
    with open(path, encoding="utf-8", newline="") as fh:
        return [(int(r["line"]), r["reason"]) for r in csv.DictReader(fh)]


@pytest.fixture
def ref_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.delenv("PERSONA_DATABASE_URL", raising=False)
    st = load_settings(tmp_path / "ref", progress=False)
    st.workspace.mkdir(parents=True, exist_ok=True)
    s = Store(st)
    s.create_all()
    create_key_file(st.key_path)
    yield s
    s.dispose()


@pytest.fixture(autouse=True)
def _keyed(request: pytest.FixtureRequest) -> None:
    """The sink's stubs need the workspace key (pseudonymous customer keys)."""
    if "any_store" in request.fixturenames:
        st = request.getfixturevalue("any_store").settings
        st.workspace.mkdir(parents=True, exist_ok=True)
        create_key_file(st.key_path)


def test_the_tricky_batch_takes_the_fast_path() -> None:
    parsed = _fast(_body(TRICKY))
    assert parsed.rows.received == len(TRICKY) and not isinstance(parsed.rows, list)
    assert parsed.customers == sorted({e["customer_id"] for e in TRICKY})  # as sent: the cache drops these lists


def test_fast_path_stores_and_rejects_exactly_like_file_ingestion(any_store: Store, ref_store: Store, tmp_path: Path) -> None:
    f = tmp_path / "events.jsonl"
    f.write_text("".join(json.dumps(d) + "\n" for d in _dumps(TRICKY)), encoding="utf-8")
    rep = ingest_file(ref_store, "events", f)
    sink = EventSink(any_store)
    res = sink.write_rows(read_batch(_body(TRICKY)).rows)
    assert (res.received, res.accepted, res.duplicates, res.rejected) == (rep.read, rep.accepted, rep.duplicates, rep.rejected)
    assert res.rejected == 6 and res.duplicates == 2 and res.accepted == len(TRICKY) - 8
    assert _quarantined(res.quarantine) == _quarantined(rep.quarantine)
    reasons = dict(_quarantined(res.quarantine))
    assert reasons[8] == "missing customer_id" and reasons[9] == "missing event_type"
    assert reasons[6].startswith("unparseable timestamp '1850-01-01T00:00:00Z'")
    assert reasons[15].startswith("unparseable timestamp '1900-01-01T00:30:00+01:00'")
    assert reasons[16] == "value must not be negative on a email_open event: -2.5"  # as ingestion's range rule
    mine, theirs = _events(any_store), _events(ref_store)
    pd.testing.assert_frame_equal(mine, theirs)
    assert sum(e.startswith("h:") for e in mine["event_id"]) == 3  # content hashes (no id or a blank one), as ingestion's
    assert {"add_to_cart", "custom_thing"} <= set(mine["event_type"])  # unknown types are kept
    assert res.unknown_event_types == rep.unknown_event_types == {"custom_thing": 1}  # and named, as ingestion names them
    assert _stubs(any_store, "customers") == _stubs(ref_store, "customers")
    assert _stubs(any_store, "products") == _stubs(ref_store, "products")
    again = sink.write_rows(read_batch(_body(TRICKY)).rows)  # a client retry: nothing new, the same rejections
    assert (again.accepted, again.duplicates, again.rejected) == (0, len(TRICKY) - 6, 6)
    assert again.unknown_event_types == {"custom_thing": 1}  # duplicates count too, as in file ingestion
    assert len(_events(any_store)) == len(mine)


EXTRAS = [
    {"customer_id": "a", "event_type": "view", "timestamp": T, "page": 3, "flag": True, "tags": ["x"], "note": " n ",
     "score": 1.5, "mixed": "s"},
    {"customer_id": "b", "event_type": "view", "timestamp": T, "page": 4, "flag": None, "tags": None, "score": None,
     "mixed": 7, "nested": {"k": [1, 2]}},
    {"customer_id": "c", "event_type": "view", "timestamp": T},
    {"customer_id": "d", "event_type": "view", "timestamp": T, "only_none": None, "note": ""},
]


@pytest.mark.parametrize("events", [TRICKY, EXTRAS, [dict(e, big=2**40, t=False) for e in TRICKY[:3]]])
def test_fast_path_types_every_column_like_the_coercer(events: list[dict[str, Any]]) -> None:
    """Column by column, the fast path's values are the coercer's on the models' dump (extras of every JSON type)."""
    rows = _fast(_body(events)).rows
    frame = dump_frame(_dumps(events))
    spec = get_spec("events")
    coerced = ChunkCoercer(spec, resolve_columns(spec, list(frame.columns), {})).coerce(frame)
    ok = coerced.ok.to_numpy()
    valid = coerced.frame[ok]
    for c in ("event_id", "customer_id", "product_id", "event_type", "channel", "session_id", "_extras"):
        want = to_objects(valid[c]).tolist() if c in valid.columns else [None] * len(valid)
        got = rows.context if c == "_extras" else getattr(rows, c)
        if c == "_extras":  # dicts here, JSON text from the coercer: the same stored JSON either way
            got, want = [json_text(v) for v in got], [json_text(v) for v in want]
        assert got == want, c
    for c in ("value", "quantity", "revenue"):
        want = [None if pd.isna(v) else float(v) for v in valid[c]] if c in valid.columns else [None] * len(valid)
        assert getattr(rows, c) == want, c
    assert [pd.Timestamp(t, tz="UTC") for t in rows.ts] == list(valid["timestamp"])
    bad = [(int(i) + 1, coerced.reasons.iat[int(i)]) for i in range(len(ok)) if not ok[i]]
    assert [(line, reason) for line, reason, _ in rows.rejected] == bad


@pytest.mark.parametrize("event", [
    {"value": "2.5"}, {"timestamp": 1780000000}, {"timestamp": "2026-06-01"}, {"quantity": True}, {"customer_id": 12},
    {"Value": 3}, {"timestamp": "2026-06-01T12:00:00.1234567Z"}, {"event_id": "x" * 129}, {"revenue": 2**60},
    {"timestamp": "\u0662\u0660\u0662\u0666-06-01T12:00:00Z"}, {"timestamp": "2026-06-01T24:00:00Z"}, {"customer_id": ""},
])
def test_what_the_fast_path_cannot_judge_goes_to_the_models(event: dict[str, Any], any_store: Store) -> None:
    """Numeric strings, other time layouts, ... are read by the models (422 or stored) exactly as before."""
    from fastapi.exceptions import RequestValidationError

    events = [dict({"event_id": "s1", "customer_id": "c1", "event_type": "view", "timestamp": T}, **event)]
    with pytest.raises(_NotPlain):
        _fast(_body(events))
    try:
        parsed = read_batch(_body(events))
    except RequestValidationError:
        with pytest.raises(Exception):  # noqa: B017, PT011 - the models refuse it too
            EventIn.model_validate_json(json.dumps(events[0]))
        return
    assert isinstance(parsed.rows, list)
    res = EventSink(any_store).write(parsed.rows)
    assert res.received == 1 and res.accepted + res.rejected == 1


def test_numeric_strings_and_unix_times_are_stored_as_the_models_read_them(any_store: Store) -> None:
    events = [{"event_id": "n1", "customer_id": "c1", "event_type": "purchase", "timestamp": 1780000000, "value": "2.5"}]
    res = EventSink(any_store).write(read_batch(_body(events)).rows)
    assert res.accepted == 1
    row = _events(any_store).iloc[0]
    assert row["value"] == 2.5 and row["ts"] == pd.Timestamp(1780000000, unit="s", tz="UTC")


def test_concurrent_writers_and_retries_store_each_event_once(any_store: Store) -> None:
    sink = EventSink(any_store)
    batches = []
    for b in range(12):  # ids overlap between neighbouring batches; every fourth event has no id (content hash)
        evs = [{"customer_id": f"u{(b * 7 + i) % 40}", "product_id": f"p{i % 9}", "event_type": "view",
                "timestamp": f"2026-06-01T12:{i % 60:02d}:{b:02d}Z"} | ({"event_id": f"w{b * 50 + i}"} if i % 4 else {})
               for i in range(80)]
        batches.append(_body(evs))
    results: list[Any] = []
    lock = threading.Lock()

    def writer(k: int) -> None:
        for b in range(k, len(batches), 3):
            for _ in range(2):  # every batch sent twice: a client that lost the first response
                r = sink.write_rows(read_batch(batches[b]).rows)
                with lock:
                    results.append(r)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 2 * len(batches)
    assert all(r.received == r.accepted + r.duplicates + r.rejected and r.rejected == 0 for r in results)
    stored = _events(any_store)
    assert stored["event_id"].is_unique and sum(r.accepted for r in results) == len(stored)
    ids = set()
    for raw in batches:
        rows = read_batch(raw).rows
        ids |= {e for e in rows.event_id if e is not None}
    assert {e for e in stored["event_id"] if not e.startswith("h:")} == ids


def test_no_stripping_is_needed_exactly_when_ingestion_strips_nothing() -> None:
    """The fast path's whitespace check (Python's) against ingestion's (Arrow's), for every code point."""
    chars = [chr(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF]
    values = [ch + "a" + ch for ch in chars]
    kept = [v == s for v, s in zip(values, to_objects(as_text(pd.Series(values, dtype=object))).tolist(), strict=True)]
    assert [_all_stripped([ch + "a"]) for ch in chars] == kept
    assert [_all_stripped(["a" + ch]) for ch in chars] == kept
    assert sum(not k for k in kept) == 29  # Unicode White_Space (25) and the ASCII separators \x1c-\x1f
    assert not _all_stripped(["a", ""]) and _all_stripped(["a", None]) and not _all_stripped([" a", None])


@settings(max_examples=300, deadline=None, derandomize=True)
@given(when=st.datetimes(min_value=datetime(1800, 1, 1), max_value=datetime(2300, 1, 1)),
       offset=st.sampled_from([None, "Z", "+00:00", "-00:00", "+05:30", "-11:00", "+14:00"]),
       spec=st.sampled_from(["seconds", "milliseconds", "microseconds"]), sep=st.sampled_from(["T", " "]))
def test_fast_timestamps_are_the_models_timestamps(when: datetime, offset: str | None, spec: str, sep: str) -> None:
    """Every ISO 8601 string the fast path reads means the instant the models read (None: outside 1900-2200)."""
    from pydantic import TypeAdapter

    from persona.api.eventbatch import _timestamp

    text = when.isoformat(sep=sep, timespec=spec) + (offset or "")
    theirs = TypeAdapter(datetime).validate_python(text)
    if theirs.tzinfo is not None:
        theirs = theirs.astimezone(UTC).replace(tzinfo=None)
    expected = theirs if datetime(1900, 1, 1) <= theirs < datetime(2200, 1, 1) else None
    assert _timestamp(text) == expected
