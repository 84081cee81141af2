"""Background sync jobs across workers and restarts: two apps on one workspace stand for two workers of the service,
on SQLite (flock) and PostgreSQL (advisory lock); a job whose process was killed reads ``interrupted``."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from api_helpers import auth
from fastapi.testclient import TestClient

import persona.ingest.sources.configured as configured_mod
from persona.api.keys import create_key
from persona.api.main import create_app
from persona.config import load_settings
from persona.ingest.sources.jobs import create_job, get_job
from persona.store import open_store
from persona.store.workspace import init_workspace


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def workers(request, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN001, ANN201
    """Two apps (each with its own store, as two processes have) on one workspace with one SQL source; yields
    ``(worker_a, worker_b, admin_key, settings)``."""
    url = request.getfixturevalue("pg_url") if request.param == "postgres" else None
    monkeypatch.delenv("PERSONA_WORKSPACE", raising=False)
    monkeypatch.delenv("PERSONA_DATABASE_URL", raising=False)
    monkeypatch.setenv("PERSONA_LIVE_LOOP", "0")
    settings = load_settings(tmp_path / "ws", database_url=url, progress=False)
    init_workspace(settings)
    crm = tmp_path / "crm.db"
    con = sqlite3.connect(crm)
    con.execute("CREATE TABLE crm (customer_id TEXT, city TEXT, updated_at INTEGER)")
    con.executemany("INSERT INTO crm VALUES (?, ?, ?)", [("s1", "Oslo", 5), ("s2", "Bergen", 7)])
    con.commit()
    con.close()
    with settings.config_path.open("a", encoding="utf-8") as f:
        f.write(f'\n[sources.crm]\nentity = "customers"\nsql = "crm"\ndb = "sqlite:///{crm}"\nsince_column = "updated_at"\n')
    stores = [open_store(settings), open_store(settings)]
    key = create_key(stores[0], "admin")["key"]
    with TestClient(create_app(settings, store=stores[0])) as a, TestClient(create_app(settings, store=stores[1])) as b:
        yield a, b, key, settings
    for s in stores:
        s.dispose()


def _wait(client: TestClient, key: str, url: str, seconds: float = 20) -> dict:
    deadline = time.monotonic() + seconds
    while True:
        job = client.get(url, headers=auth(key)).json()
        if job["status"] != "running" or time.monotonic() > deadline:
            return job
        time.sleep(0.05)


@pytest.fixture
def held_pull(monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    """Pulls block until the test sets the returned event (the lock stays held by the runner meanwhile)."""
    release = threading.Event()

    def slow_sync(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        assert kwargs["locked"] is True
        release.wait(20)
        return []

    monkeypatch.setattr(configured_mod, "sync_sources", slow_sync)
    yield release
    release.set()


def test_a_job_started_on_one_worker_is_answered_by_another_and_after_a_restart(workers):
    a, b, key, settings = workers
    r = a.post("/v1/sources/jobs", json={"sources": ["crm"]}, headers=auth(key))
    assert r.status_code == 202, r.text
    started = r.json()
    assert len(started["id"]) >= 16 and started["requested"] == ["crm"] and started["pid"] == os.getpid()
    job = _wait(b, key, started["url"])  # polled on the other worker only
    assert job["status"] == "done", job
    assert [(row["name"], row["accepted"]) for row in job["results"]] == [("crm", 2)]
    assert job["actor"] == started["actor"] and job["actor"].startswith("api:") and job["seconds"] >= 0
    assert job["started_at"].endswith("+00:00") and job["finished_at"] >= job["started_at"]
    assert [j["id"] for j in b.get("/v1/sources/jobs", headers=auth(key)).json()] == [started["id"]]
    assert b.get("/v1/sources/jobs/nosuchjob", headers=auth(key)).status_code == 404
    second = _wait(a, key, b.post("/v1/sources/jobs", headers=auth(key)).json()["url"])
    listed = a.get("/v1/sources/jobs", params={"limit": 1}, headers=auth(key)).json()
    assert [j["id"] for j in listed] == [second["id"]]  # newest first, limited
    assert a.get("/v1/sources/jobs", params={"limit": 0}, headers=auth(key)).status_code == 422
    restarted = open_store(settings)  # a new service process on the same workspace
    try:
        with TestClient(create_app(settings, store=restarted)) as c:
            again = c.get(started["url"], headers=auth(key)).json()
    finally:
        restarted.dispose()
    assert (again["status"], again["results"]) == ("done", job["results"])


def test_one_job_at_a_time_across_workers_and_a_finishing_job_is_never_interrupted(workers, held_pull, monkeypatch):
    import persona.api.syncjobs as syncjobs_mod

    a, b, key, _ = workers
    at_finish: list[str] = []
    finished = threading.Event()
    real_finish = syncjobs_mod.finish_job

    def finish_read_meanwhile(store, job_id, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        # the worst moment: the pull is over, the status not yet written; another worker reads (and probes the lock)
        at_finish.append(b.get(f"/v1/sources/jobs/{job_id}", headers=auth(key)).json()["status"])
        at_finish.append(b.get("/v1/sources/jobs", headers=auth(key)).json()[0]["status"])
        real_finish(store, job_id, *args, **kwargs)
        finished.set()

    monkeypatch.setattr(syncjobs_mod, "finish_job", finish_read_meanwhile)
    first = a.post("/v1/sources/jobs", headers=auth(key))
    assert first.status_code == 202 and first.json()["status"] == "running"
    url = first.json()["url"]
    refused = b.post("/v1/sources/jobs", json={"sources": ["crm"]}, headers=auth(key))
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "busy"
    assert url in refused.text  # the hint points at the running job
    assert b.get(url, headers=auth(key)).json()["status"] == "running"  # the other worker probes: the runner holds the lock
    assert b.get("/v1/sources/jobs", headers=auth(key)).json()[0]["status"] == "running"
    held_pull.set()
    assert finished.wait(20)  # no client is used from two threads at once (TestClient's portal may hang on exit)
    final = _wait(a, key, url)
    assert final["status"] == "done" and final["error"] is None and at_finish == ["running", "running"]
    finished.clear()
    assert b.post("/v1/sources/jobs", headers=auth(key)).status_code == 202  # free again, from the other worker
    assert finished.wait(20)  # its runner's reads are over before the clients close


def test_a_running_row_without_a_lock_holder_reads_interrupted(workers):
    a, b, key, settings = workers
    store = open_store(settings)
    try:  # what a killed worker leaves: a running row, one source done, and no lock held
        orphan = create_job(store, "orphan0000000000", requested=[], sources=["crm", "clicks"], full=False, actor="ui:dead")
        from persona.ingest.sources.jobs import record_progress

        record_progress(store, orphan.id, [{"name": "crm", "status": "ok", "accepted": 2}])
    finally:
        store.dispose()
    listed = b.get("/v1/sources/jobs", headers=auth(key)).json()
    job = listed[0]
    assert (job["id"], job["status"]) == ("orphan0000000000", "interrupted")
    assert "service stopped during the pull" in job["error"] and "after crm had finished" in job["error"]
    assert "pull clicks" in job["error"] and "nothing is lost" in job["hint"] and job["finished_at"]
    assert job["results"] == [{"name": "crm", "status": "ok", "accepted": 2}]
    assert a.get(f"/v1/sources/jobs/{orphan.id}", headers=auth(key)).json() == job  # settled once, the same everywhere
    assert _wait(a, key, a.post("/v1/sources/jobs", headers=auth(key)).json()["url"])["status"] == "done"


def test_a_new_job_settles_an_orphan_even_when_nobody_read_it(workers):
    a, _, key, settings = workers
    store = open_store(settings)
    try:
        create_job(store, "orphan1111111111", requested=["crm"], sources=["crm"], full=False, actor="api:dead")
        new = _wait(a, key, a.post("/v1/sources/jobs", headers=auth(key)).json()["url"])
        assert new["status"] == "done"
        orphan = get_job(store, "orphan1111111111")
    finally:
        store.dispose()
    assert orphan is not None and orphan.status == "interrupted" and "start the sync again to pull crm" in orphan.error


KILLED_WORKER = textwrap.dedent("""
    import sys, threading, time
    import persona.ingest.sources.configured as c
    from persona.api.syncjobs import SyncJobs
    from persona.config import load_settings
    from persona.store import open_store

    pulling = threading.Event()

    def hang(store, specs, **kw):  # the first source is done, the second one never ends
        kw["on_result"](c.SyncResult("crm", "customers", "sql", report={"accepted": 2}))
        pulling.set()
        time.sleep(120)

    c.sync_sources = hang
    settings = load_settings(sys.argv[1], database_url=sys.argv[2] or None, progress=False)
    class State:
        store = open_store(settings)
        settings = settings
    job = SyncJobs().start(State, None, full=False, actor="api:gone")
    pulling.wait(30)
    print(job.id, flush=True)
    time.sleep(120)
""")


def test_a_job_of_a_killed_process_reads_interrupted_and_a_new_one_starts(workers, tmp_path: Path):
    a, b, key, settings = workers
    url = settings.url if settings.url.startswith("postgresql") else ""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    proc = subprocess.Popen([sys.executable, "-c", KILLED_WORKER, str(settings.workspace), url], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        job_id = proc.stdout.readline().strip()  # written once the first source is done and the second is pulling
        assert job_id, proc.kill() or proc.stderr.read()
        running = b.get(f"/v1/sources/jobs/{job_id}", headers=auth(key)).json()
        assert running["status"] == "running" and running["results"][0]["name"] == "crm"  # progress is visible
        assert a.post("/v1/sources/jobs", headers=auth(key)).status_code == 409  # the other process holds the lock
    finally:
        proc.kill()  # SIGKILL: no cleanup runs, as with an OOM kill
        proc.wait(10)
        proc.stdout.close()
        proc.stderr.close()
    job = _wait(b, key, f"/v1/sources/jobs/{job_id}", seconds=10)  # PostgreSQL ends the dead session's lock promptly
    assert job["status"] == "interrupted" and "service stopped during the pull" in job["error"]
    assert f"process {proc.pid}" in job["error"] and "nothing is lost" in job["hint"]
    new = a.post("/v1/sources/jobs", headers=auth(key))
    assert new.status_code == 202, new.text
    assert _wait(a, key, new.json()["url"])["status"] == "done"
