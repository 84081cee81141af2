"""Pipeline stages demo → ingest → quality on a small demo shop, and ingest of a user's data folder."""

from __future__ import annotations

import functools

import persona.demo
from persona.pipeline.stages.data import DEMO, INGEST, QUALITY, find_entity_files


def test_demo_ingest_quality(ctx, monkeypatch):
    small = functools.partial(persona.demo.generate_shop, customers=120, products=30, days=40)
    monkeypatch.setattr(persona.demo, "generate_shop", small)
    demo = DEMO.run(ctx)
    assert demo.status == "ok" and set(demo.figures["files"]) == {"customers", "products", "events", "reviews", "consents"}
    assert DEMO.run(ctx).figures["reused"] is True  # same seed: files reused

    ing = INGEST.run(ctx)
    assert ing.status == "ok", ing.message
    for entity, fig in ing.figures.items():
        assert fig["read"] == fig["accepted"] + fig["duplicates"] + fig["rejected"], entity
    assert ing.figures["customers"]["accepted"] == 120
    again = INGEST.run(ctx)  # re-ingesting the same files adds nothing
    assert all(f["accepted"] == 0 for f in again.figures.values())

    q = QUALITY.run(ctx)
    assert q.status == "ok"
    assert q.figures["rows"]["customers"] == 120 and q.figures["rows"]["events"] == ing.figures["events"]["accepted"]
    assert sum(q.figures["events_by_type"].values()) == q.figures["rows"]["events"]
    assert q.figures["time_range"]["first"] < q.figures["time_range"]["last"]
    assert q.figures["time_range"]["first"].endswith("+00:00")  # ISO 8601 UTC, the same from either database
    assert " UTC to " in q.sections[0].html and ".000000" not in q.sections[0].html
    assert q.sections[0].images and "<table>" in q.sections[0].html


def test_user_data_folder(ctx, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "events.csv").write_text("customer_id,event_type,timestamp\nc1,view,2020-01-01\nc1,view,bad\n", encoding="utf-8")
    (data / "customers.jsonl").write_text('{"customer_id": "c1", "city": "Oslo"}\n', encoding="utf-8")
    (data / "notes.txt").write_text("ignored", encoding="utf-8")
    ctx.data_dir = data
    assert DEMO.run(ctx).status == "skipped"
    assert list(find_entity_files(data)) == ["customers", "events"]
    ing = INGEST.run(ctx)
    assert ing.status == "ok" and ing.figures["events"]["rejected"] == 1 and ing.figures["customers"]["accepted"] == 1
    q = QUALITY.run(ctx)
    assert q.figures["quarantine"]["rows"] == 1 and q.figures["stubs"]["customers"] == 0


def test_missing_events_file_fails_stage(ctx, tmp_path):
    data = tmp_path / "d"
    data.mkdir()
    (data / "customers.csv").write_text("id\n1\n", encoding="utf-8")
    ctx.data_dir = data
    res = INGEST.run(ctx)
    assert res.status == "failed" and "customers" in res.figures and "error" in res.figures["customers"]
