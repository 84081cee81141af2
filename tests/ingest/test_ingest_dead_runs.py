"""A run its process left ``running`` when it died (SIGKILL, a restart, out of memory) reads ``interrupted`` with what
to do, and rerunning the command resumes it; runs of live processes and of other hosts are left alone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime

from sqlalchemy import insert

from persona.ingest import ingest_file
from persona.ingest.runs import process_alive, settle_dead_runs, this_process
from persona.privacy.crypto import PIICipher
from persona.store.models import IngestRun

CIPHER = PIICipher(b"r" * 32)


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _run(store, status: str, host: str | None, pid: int | None, source: str = "x.csv") -> int:
    with store.session() as s:
        return int(s.execute(insert(IngestRun).values(
            entity="events", source=source, started_at=datetime.now(UTC), status=status, read=0, accepted=0,
            duplicates=0, rejected=0, position=0, host=host, pid=pid).returning(IngestRun.id)).scalar_one())


def test_a_file_run_records_its_process(any_store, tmp_path):
    f = tmp_path / "ev.csv"
    f.write_text("customer_id,event_type,timestamp\nc1,view,1600000000\n", encoding="utf-8")
    ingest_file(any_store, "events", f, cipher=CIPHER)
    row = any_store.read_frame("SELECT status, host, pid FROM ingest_runs").iloc[0]
    assert (row["status"], row["host"], int(row["pid"])) == ("done", *this_process())


def test_only_this_hosts_runs_of_dead_processes_are_settled(any_store):
    host, me = this_process()
    dead = _dead_pid()
    assert not process_alive(dead) and process_alive(me)
    gone = _run(any_store, "running", host, dead)
    alive = _run(any_store, "running", host, me)
    elsewhere = _run(any_store, "running", "another-host", dead)
    unknown = _run(any_store, "running", None, None)  # written before runs recorded their process
    finished = _run(any_store, "done", host, dead)
    assert settle_dead_runs(any_store) == 1 and settle_dead_runs(any_store) == 0
    runs = any_store.read_frame("SELECT id, status, error FROM ingest_runs").set_index("id")
    assert runs.loc[gone, "status"] == "interrupted"
    assert f"pid {dead} on {host}" in runs.loc[gone, "error"] and "run the same command again" in runs.loc[gone, "error"]
    assert [runs.loc[i, "status"] for i in (alive, elsewhere, unknown, finished)] == ["running", "running", "running", "done"]


def test_a_killed_ingest_is_settled_and_resumes(store, tmp_path):
    f = tmp_path / "ev.csv"
    f.write_text("customer_id,event_type,timestamp\n" + "".join(f"c{i % 7},view,{1_600_000_000 + i}\n" for i in range(400)),
                 encoding="utf-8")
    script = textwrap.dedent(f"""
        import time
        from persona.config import load_settings
        from persona.ingest import ingest_file
        from persona.ingest.writer import EntityWriter
        from persona.privacy.crypto import PIICipher
        from persona.store import Store
        real = EntityWriter.write
        EntityWriter.write = lambda self, w, frame: (time.sleep(0.3), real(self, w, frame))[1]  # a slow load
        store = Store(load_settings({str(store.settings.workspace)!r}, progress=False))
        ingest_file(store, "events", {str(f)!r}, chunk_size=50, cipher=PIICipher(b"r" * 32))
    """)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PERSONA_")}
    proc = subprocess.Popen([sys.executable, "-c", script], env=env)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            runs = store.read_frame("SELECT status, position FROM ingest_runs")
            if len(runs) and int(runs["position"].iloc[0] or 0) >= 100:
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert store.read_frame("SELECT status FROM ingest_runs")["status"].tolist() == ["running"]  # what SIGKILL leaves
    assert settle_dead_runs(store) == 1
    assert store.read_frame("SELECT status FROM ingest_runs")["status"].tolist() == ["interrupted"]
    rep = ingest_file(store, "events", f, chunk_size=50, cipher=CIPHER)
    assert rep.resumed and rep.read == 400 and store.count("events") == 400
    runs = store.read_frame("SELECT status, error, pid FROM ingest_runs")
    assert runs["status"].tolist() == ["done"] and runs["error"].isna().all() and int(runs["pid"].iloc[0]) == os.getpid()


def test_the_sources_status_shows_a_dead_run_interrupted(any_store):
    from persona.ingest.sources.status import sources_status

    host, _ = this_process()
    _run(any_store, "running", host, _dead_pid(), source="crm.csv")
    runs = sources_status(any_store, [])["other_runs"]
    assert [(r["source"], r["status"]) for r in runs] == [("crm.csv", "interrupted")]
    assert "stopped before it finished" in runs[0]["error"]
