"""A configured source's identity (its runs' source text and cursor key, computed without connecting), the
workspace's sync lock, and failed pulls kept in ``ingest_runs`` with their error."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from loopback_http import LoopbackAPI, Reply

from persona.errors import BusyError
from persona.ingest.sources.configured import parse_sources, sync_lock, sync_sources
from persona.ingest.sources.cursor import list_cursors
from persona.ingest.sources.status import sources_status


def _events(a: int, b: int) -> list[dict]:
    return [{"event_id": f"e{i}", "customer_id": "c1", "event_type": "view", "timestamp": 1_700_000_000 + i, "at": i} for i in range(a, b)]


def test_identity_names_runs_and_cursors_as_the_readers_do(initialised_store, tmp_path: Path, monkeypatch):
    con = sqlite3.connect(tmp_path / "crm.db")
    con.execute("CREATE TABLE crm (customer_id TEXT, updated_at INTEGER)")
    con.executemany("INSERT INTO crm VALUES (?, ?)", [("c1", 1), ("c2", 2)])
    con.commit()
    con.close()
    monkeypatch.chdir(tmp_path)  # a relative SQLite path: the key names the file by its absolute path
    with LoopbackAPI() as api:
        api.route("/e?token=s3cr3tvalue", Reply({"data": _events(0, 3)}))
        specs = parse_sources({"sources": {
            "crm": {"entity": "customers", "sql": "  crm ", "db": "sqlite:///crm.db", "since_column": " updated_at"},
            "clicks": {"entity": "events", "url": api.url("/e?token=s3cr3tvalue"), "since_param": "from ",
                       "since_field": "at"},
        }})
        results = sync_sources(initialised_store, specs, progress=False)
    assert [r.status for r in results] == ["ok", "ok"], [r.error for r in results]
    stored = {c["key"]: c for c in list_cursors(initialised_store)}
    for spec, res in zip(specs, results, strict=True):
        ident = spec.identity()
        assert ident.cursor_key == res.report["cursor"]["key"] and ident.cursor_key in stored
        assert ident.source == res.report["source"] == stored[ident.cursor_key]["source"]
    assert "s3cr3tvalue" not in str(sources_status(initialised_store, specs))
    status = {s["name"]: s for s in sources_status(initialised_store, specs)["sources"]}
    assert status["crm"]["cursor"]["value"] == 2 and status["clicks"]["cursor"]["value"] == 2
    assert [r["accepted"] for r in status["clicks"]["runs"]] == [3]


def test_the_sync_lock_admits_one_holder(any_store):
    store = any_store  # a flock on SQLite, an advisory lock on PostgreSQL
    with sync_lock(store):
        with pytest.raises(BusyError, match="already running") as err, sync_lock(store):
            pass
        assert err.value.http_status == 409
        from persona.campaigns.worker import worker_lock

        with worker_lock(store, store.settings):  # another lock of the same workspace: independent
            pass
    with sync_lock(store):  # released
        pass


def test_taking_the_sync_lock_settles_jobs_left_running_by_a_dead_process(any_store):
    from persona.ingest.sources.jobs import create_job, finish_job, get_job

    store = any_store
    create_job(store, "dead", requested=[], sources=["crm"], full=False, actor="ui:x")
    with sync_lock(store):  # as `persona sync` takes it: the row's runner cannot be alive
        assert get_job(store, "dead").status == "interrupted"
        create_job(store, "alive", requested=[], sources=["crm"], full=False, actor="ui:x")  # a job of this holder
        with pytest.raises(BusyError):
            with sync_lock(store):  # a reader's probe while the holder runs: nothing changes
                pass
        assert get_job(store, "alive").status == "running"
        finish_job(store, "alive", "done", [])
    with sync_lock(store):
        pass
    assert get_job(store, "alive").status == "done" and get_job(store, "dead").status == "interrupted"


def test_a_failure_part_way_is_kept_with_its_error(initialised_store):
    with LoopbackAPI() as api:
        api.route("/e", Reply({"data": _events(0, 2), "next": "/e2"}))
        api.route("/e2", Reply({"error": "nope"}, status=403))
        specs = parse_sources({"sources": {"clicks": {"entity": "events", "url": api.url("/e"), "retries": 0}}})
        (res,) = sync_sources(initialised_store, specs, progress=False)
    assert res.status == "failed" and "403" in res.error
    runs = sources_status(initialised_store, specs)["sources"][0]["runs"]
    assert len(runs) == 1  # the runner's own record, not a second one
    assert (runs[0]["status"], runs[0]["read"]) == ("failed", 2) and "403" in runs[0]["error"]
