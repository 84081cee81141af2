"""JSON kept by the store (events' context, customers' attributes, model params) holds numbers as numbers.

A value the writers used to encode with ``json.dumps(default=str)`` came back as text: ``np.int64(3)`` as ``"3"``, a
Parquet list as ``"[1 2]"``. Every way in (CSV, JSON lines, Parquet, DataFrames, the API's event batch, the bulk
writer, the model registry) is checked here on SQLite and PostgreSQL; text that looks like a number stays text.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import persona.store.bulk as bulk
from persona.ingest import ingest_file, ingest_frames
from persona.privacy.crypto import PIICipher
from persona.store.bulk import encode_rows

CIPHER = PIICipher(b"j" * 32)
NUMPY_PROPS = {"n": np.int64(3), "score": np.float32(0.5), "ok": np.bool_(True), "tags": np.array([1, 2]),
               "at": pd.Timestamp("2026-01-02 03:04:05", tz="UTC"), "gone": np.float64("nan"), "zip": "007", "s": "3"}
WANT = {"n": 3, "score": 0.5, "ok": True, "tags": [1, 2], "at": "2026-01-02T03:04:05+00:00", "gone": None, "zip": "007",
        "s": "3"}


def _json(v: Any) -> Any:
    return json.loads(v) if isinstance(v, str) else v


def _contexts(store) -> dict[str, Any]:  # noqa: ANN001
    df = store.read_frame("SELECT event_id, context FROM events ORDER BY event_id")
    return {e: _json(c) for e, c in df.itertuples(index=False)}


def _typed(got: Any, want: Any) -> bool:
    """Equal, and of the same JSON type all the way down (``1 == 1.0 == True`` in Python)."""
    if isinstance(want, dict):
        return isinstance(got, dict) and got.keys() == want.keys() and all(_typed(got[k], want[k]) for k in want)
    if isinstance(want, list):
        return isinstance(got, list) and len(got) == len(want) and all(_typed(g, w) for g, w in zip(got, want, strict=True))
    return type(got) is type(want) and got == want


@pytest.mark.parametrize("path", ["rows", "encoded", "encoded_staged"])
def test_the_bulk_writer_stores_numpy_values_with_their_types(any_store, monkeypatch, path) -> None:  # noqa: ANN001
    frame = pd.DataFrame({"event_id": ["e1"], "customer_id": "c1", "event_type": "view", "ts": datetime(2026, 1, 1, tzinfo=UTC),
                          "context": [{"props": NUMPY_PROPS, "top": np.int64(9)}]})
    if path == "rows":
        any_store.bulk_insert("events", frame, key=["event_id"])
    else:
        monkeypatch.setattr(bulk, "STAGE_MIN_ROWS", 1 if path == "encoded_staged" else 10**9)
        with any_store.bulk() as w:
            w.insert("events", encode_rows("events", frame, any_store.dialect, unique_key="event_id"), key=["event_id"])
    assert _typed(_contexts(any_store)["e1"], {"props": WANT, "top": 9})


def test_dataframes_with_numpy_values_nested_in_a_column(any_store) -> None:  # noqa: ANN001
    frame = pd.DataFrame({"event_id": ["e1", "e2"], "customer_id": ["c1", "c2"], "event_type": "view",
                          "timestamp": ["2026-01-01", "2026-01-02"], "properties": [NUMPY_PROPS, {"n": np.int32(4)}]})
    rep = ingest_frames(any_store, "events", [frame], source="frames", cipher=CIPHER)
    assert (rep.read, rep.accepted) == (2, 2)
    got = _contexts(any_store)
    assert _typed(got["e1"], {"properties": WANT}) and _typed(got["e2"], {"properties": {"n": 4}})


def test_customers_attributes_from_dataframes_keep_numpy_types(any_store) -> None:  # noqa: ANN001
    frame = pd.DataFrame({"customer_id": ["c1"], "loyalty": [{"points": np.int64(120), "vip": np.bool_(False)}]})
    ingest_frames(any_store, "customers", [frame], source="crm", cipher=CIPHER)
    got = _json(any_store.read_frame("SELECT attributes FROM customers")["attributes"][0])
    assert _typed(got, {"loyalty": {"points": 120, "vip": False}})


def test_jsonl_events_keep_numbers_booleans_and_text(any_store, tmp_path: Path) -> None:  # noqa: ANN001
    rows = [{"event_id": "e1", "customer_id": "c1", "event_type": "view", "timestamp": "2026-01-01", "n": 3, "score": 0.5,
             "ok": True, "zip": "007", "props": {"a": 1, "b": [0.5, False], "c": "2"}},
            {"event_id": "e2", "customer_id": "c2", "event_type": "view", "timestamp": "2026-01-02", "zip": "1"}]
    f = tmp_path / "events.jsonl"
    f.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    assert ingest_file(any_store, "events", f, cipher=CIPHER).accepted == 2
    got = _contexts(any_store)
    assert _typed(got["e1"], {"n": 3, "score": 0.5, "ok": True, "zip": "007", "props": {"a": 1, "b": [0.5, False], "c": "2"}})
    assert _typed(got["e2"], {"zip": "1"})


def test_parquet_events_keep_ints_floats_booleans_lists_and_structs(any_store, tmp_path: Path) -> None:  # noqa: ANN001
    table = pa.table({
        "event_id": ["e1", "e2"], "customer_id": ["c1", "c2"], "event_type": ["view", "view"],
        "timestamp": pa.array([datetime(2026, 1, 1, tzinfo=UTC)] * 2, pa.timestamp("us", tz="UTC")),
        "n": pa.array([3, 4], pa.int64()), "score": pa.array([0.5, None], pa.float32()), "ok": [True, False],
        "tags": pa.array([[1, 2], []], pa.list_(pa.int64())), "zip": ["007", "8"],
        "props": pa.array([{"a": 1, "b": 0.25}, {"a": 2, "b": None}], pa.struct([("a", pa.int64()), ("b", pa.float64())])),
    })
    f = tmp_path / "events.parquet"
    pq.write_table(table, f)
    assert ingest_file(any_store, "events", f, cipher=CIPHER).accepted == 2
    got = _contexts(any_store)
    assert _typed(got["e1"], {"n": 3, "score": 0.5, "ok": True, "tags": [1, 2], "zip": "007", "props": {"a": 1, "b": 0.25}})
    assert _typed(got["e2"], {"n": 4, "ok": False, "tags": [], "zip": "8", "props": {"a": 2, "b": None}})


def test_csv_values_that_look_like_numbers_stay_text(any_store, tmp_path: Path) -> None:  # noqa: ANN001
    f = tmp_path / "events.csv"
    f.write_text("event_id,customer_id,event_type,timestamp,zip,n\ne1,c1,view,2026-01-01,007,3\n", encoding="utf-8")
    assert ingest_file(any_store, "events", f, cipher=CIPHER).accepted == 1
    assert _typed(_contexts(any_store)["e1"], {"zip": "007", "n": "3"})


def test_the_api_event_batch_keeps_json_types(any_store) -> None:  # noqa: ANN001
    pytest.importorskip("fastapi")
    from persona.api.eventbatch import read_batch
    from persona.api.eventsink import EventSink
    from persona.privacy.crypto import create_key_file

    any_store.settings.workspace.mkdir(parents=True, exist_ok=True)
    create_key_file(any_store.settings.key_path)
    events = [{"event_id": "e1", "customer_id": "c1", "event_type": "view", "timestamp": "2026-01-01T00:00:00Z", "n": 3,
               "score": 0.5, "ok": True, "zip": "007", "properties": {"a": 1, "b": [0.5, True], "c": "2"}},
              {"event_id": "e2", "customer_id": "c2", "event_type": "view", "timestamp": "2026-01-01T00:00:00Z", "zip": "1"}]
    rows = read_batch(json.dumps({"events": events}).encode()).rows
    sink = EventSink(any_store)
    res = sink.write(rows) if isinstance(rows, list) else sink.write_rows(rows)
    assert res.accepted == 2
    got = _contexts(any_store)
    assert _typed(got["e1"], {"n": 3, "score": 0.5, "ok": True, "zip": "007", "properties": {"a": 1, "b": [0.5, True], "c": "2"}})
    assert _typed(got["e2"], {"zip": "1"})


def test_model_params_and_metrics_keep_numpy_types(any_store) -> None:  # noqa: ANN001
    from persona.registry import get_version, register

    register(any_store, "m", "recommender", {"a": "model"}, {"k": np.int64(10), "alpha": np.float32(0.5), "w": np.array([1, 2])},
             {"ndcg": np.float64(0.25), "ok": np.bool_(True), "bad": float("nan")})
    mv = get_version(any_store, "m")
    assert _typed(mv.params, {"k": 10, "alpha": 0.5, "w": [1, 2]})
    assert _typed(mv.metrics, {"ndcg": 0.25, "ok": True, "bad": None})
