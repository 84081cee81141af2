"""A run its process left ``running`` when it died (SIGKILL, a restart, out of memory) reads ``interrupted`` with what
to do, and rerunning the command resumes it; runs of live processes are left alone. A run's process holds its lock (an
advisory lock on PostgreSQL, an flock on a file of the workspace on SQLite), so any host's dead runs are settled, and
a live one is never taken for dead by its pid; a run without a lock (from an older Persona) is judged by host and
pid."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import insert
from sqlalchemy import update as sa_update

from persona.errors import BusyError, SourceError
from persona.ingest import ingest_file, ingest_frames
from persona.ingest.runs import process_alive, run_lock_path, settle_dead_runs, this_process
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


def _lock_files(store) -> list[str]:
    """The ingest runs' lock files left in the workspace (SQLite)."""
    folder = run_lock_path(store.settings, 1).parent
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def _lock_held(store, run_id: int) -> bool | None:
    """Whether a process holds run ``run_id``'s lock file (SQLite); None when there is no such file."""
    try:
        fd = os.open(run_lock_path(store.settings, run_id), os.O_RDWR)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def test_a_file_run_records_its_process(any_store, tmp_path):
    f = tmp_path / "ev.csv"
    f.write_text("customer_id,event_type,timestamp\nc1,view,1600000000\n", encoding="utf-8")
    ingest_file(any_store, "events", f, cipher=CIPHER)
    row = any_store.read_frame("SELECT status, host, pid FROM ingest_runs").iloc[0]
    assert (row["status"], row["host"], int(row["pid"])) == ("done", *this_process())
    assert _lock_files(any_store) == []  # SQLite: the run's lock file went with the run


def test_runs_of_dead_processes_are_settled_and_the_others_left_alone(any_store):
    host, me = this_process()
    dead = _dead_pid()
    assert not process_alive(dead) and process_alive(me)
    gone = _run(any_store, "running", host, dead)
    alive = _run(any_store, "running", host, me)  # no lock held (as before runs took one): its live pid keeps it running
    elsewhere = _run(any_store, "running", "another-host", dead)  # no process holds its lock
    unknown = _run(any_store, "running", None, None)  # written before runs recorded their process
    finished = _run(any_store, "done", host, dead)
    by_lock = any_store.dialect == "postgresql"  # SQLite cannot see another host's processes
    assert settle_dead_runs(any_store) == (2 if by_lock else 1) and settle_dead_runs(any_store) == 0
    runs = any_store.read_frame("SELECT id, status, error FROM ingest_runs").set_index("id")
    assert runs.loc[gone, "status"] == "interrupted"
    assert f"pid {dead} on {host}" in runs.loc[gone, "error"] and "run the same command again" in runs.loc[gone, "error"]
    assert runs.loc[elsewhere, "status"] == ("interrupted" if by_lock else "running")
    if by_lock:
        assert f"pid {dead} on another-host" in runs.loc[elsewhere, "error"]
    assert [runs.loc[i, "status"] for i in (alive, unknown, finished)] == ["running", "running", "done"]
    assert _lock_files(any_store) == []


def test_sqlite_a_run_of_an_older_persona_without_a_lock_file_is_judged_by_host_and_pid(store, monkeypatch):
    import persona.ingest.runs as runs

    host, me = this_process()
    dead = _dead_pid()
    gone, alive, elsewhere = _run(store, "running", host, dead), _run(store, "running", host, me), \
        _run(store, "running", "another-host", dead)
    assert [_lock_held(store, i) for i in (gone, alive, elsewhere)] == [None, None, None]
    taken = _run(store, "running", host, dead)
    real = runs.process_alive

    def taken_over_meanwhile(pid: int) -> bool:  # a new process resumes `taken` between the settler's read and write
        with store.session() as s:
            s.execute(sa_update(IngestRun).where(IngestRun.id == taken).values(pid=me))
        return real(pid)

    monkeypatch.setattr(runs, "process_alive", taken_over_meanwhile)
    assert settle_dead_runs(store) == 1
    status = store.read_frame("SELECT id, status FROM ingest_runs").set_index("id")["status"]
    assert [status[i] for i in (gone, alive, elsewhere, taken)] == ["interrupted", "running", "running", "running"]


def _events_file(tmp_path) -> Path:
    f = tmp_path / "ev.csv"
    f.write_text("customer_id,event_type,timestamp\n" + "".join(f"c{i % 7},view,{1_600_000_000 + i}\n" for i in range(400)),
                 encoding="utf-8")
    return f


def _loader(store, f: Path, *, owner: tuple[str, int] | None = None, stall_after: int | None = None,
            until: Path | None = None) -> subprocess.Popen:
    """Another process loading ``f`` slowly (50 rows a chunk); ``owner``: the (host, pid) it records instead of its
    own, as a loader on another machine would (or one in another pid namespace); ``stall_after``: chunks it writes
    before it stops making progress, ``until`` the file ``until`` exists (default: for good)."""
    script = textwrap.dedent(f"""
        import os
        import time
        import persona.ingest.runner as runner
        from persona.config import load_settings
        from persona.ingest import ingest_file
        from persona.ingest.writer import EntityWriter
        from persona.privacy.crypto import PIICipher
        from persona.store import Store
        owner, stall_after, until = {owner!r}, {stall_after!r}, {None if until is None else str(until)!r}
        if owner is not None:
            runner.this_process = lambda: owner
        real, calls = EntityWriter.write, []
        def slow(self, w, frame):
            calls.append(1)
            if stall_after is not None and len(calls) > stall_after:
                deadline = time.monotonic() + 600
                while time.monotonic() < deadline and not (until and os.path.exists(until)):
                    time.sleep(0.05)
            else:
                time.sleep(0.3)
            return real(self, w, frame)
        EntityWriter.write = slow
        store = Store(load_settings({str(store.settings.workspace)!r}, database_url={store.settings.database_url!r},
                                    progress=False))
        ingest_file(store, "events", {str(f)!r}, chunk_size=50, cipher=PIICipher(b"r" * 32))
    """)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PERSONA_")}
    return subprocess.Popen([sys.executable, "-c", script], env=env)


def _wait_for_position(store, proc: subprocess.Popen, position: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        runs = store.read_frame("SELECT position FROM ingest_runs")
        if len(runs) and int(runs["position"].iloc[0] or 0) >= position:
            return
        time.sleep(0.05)
    raise AssertionError(f"the loader did not commit line {position} (exit code {proc.poll()})")


def _advisory_locks(store) -> int:
    return int(store.read_frame(
        "SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND granted "
        "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")["n"].iloc[0])


def test_a_killed_ingest_is_settled_and_resumes(store, tmp_path):
    f = _events_file(tmp_path)
    proc = _loader(store, f)
    try:
        _wait_for_position(store, proc, 100)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert store.read_frame("SELECT status FROM ingest_runs")["status"].tolist() == ["running"]  # what SIGKILL leaves
    assert settle_dead_runs(store) == 1
    assert store.read_frame("SELECT status FROM ingest_runs")["status"].tolist() == ["interrupted"]
    assert _lock_files(store) == []  # the settler removed the dead run's lock file
    rep = ingest_file(store, "events", f, chunk_size=50, cipher=CIPHER)
    assert rep.resumed and rep.read == 400 and store.count("events") == 400
    runs = store.read_frame("SELECT status, error, pid FROM ingest_runs")
    assert runs["status"].tolist() == ["done"] and runs["error"].isna().all() and int(runs["pid"].iloc[0]) == os.getpid()
    assert _lock_files(store) == []


def test_sqlite_a_live_loader_is_judged_by_its_lock_file_not_its_pid(store, tmp_path):
    host, _ = this_process()
    dead = _dead_pid()  # the pid it records is no process here, as a loader's in another container's pid namespace
    f = _events_file(tmp_path)
    proc = _loader(store, f, owner=(host, dead), stall_after=2)
    try:
        _wait_for_position(store, proc, 100)
        assert not process_alive(dead)
        assert settle_dead_runs(store) == 0  # alive: it holds its run's lock file, whatever its pid says here
        run_id = int(store.read_frame("SELECT id FROM ingest_runs")["id"].iloc[0])
        assert _lock_held(store, run_id)
        run = store.read_frame("SELECT status, host, pid FROM ingest_runs")
        assert run[["status", "host", "pid"]].iloc[0].tolist() == ["running", host, dead]
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert _lock_held(store, run_id) is False  # the kernel let go of the dead process's lock; its file stays
    assert settle_dead_runs(store) == 1 and settle_dead_runs(store) == 0
    run = store.read_frame("SELECT status, error FROM ingest_runs")
    assert run["status"].tolist() == ["interrupted"]
    assert f"pid {dead} on {host}" in run["error"].iloc[0] and "run the same command again" in run["error"].iloc[0]
    assert _lock_files(store) == []
    rep = ingest_file(store, "events", f, chunk_size=50, cipher=CIPHER)
    assert rep.resumed and rep.read == 400 == rep.accepted + rep.duplicates + rep.rejected
    assert store.count("events") == 400
    run = store.read_frame("SELECT status, host, pid FROM ingest_runs").iloc[0]
    assert (run["status"], run["host"], int(run["pid"])) == ("done", *this_process())
    assert _lock_files(store) == []


def test_sqlite_a_second_load_of_a_file_being_loaded_is_refused(store, tmp_path, monkeypatch):
    import persona.ingest.runner as runner

    monkeypatch.setattr(runner, "CLAIM_WAIT_SECONDS", 0.2)
    f, go_on = _events_file(tmp_path), tmp_path / "go-on"
    proc = _loader(store, f, owner=("loader-2", 4242), stall_after=2, until=go_on)
    try:
        _wait_for_position(store, proc, 100)
        with pytest.raises(BusyError, match="pid 4242 on loader-2") as err:
            ingest_file(store, "events", f, chunk_size=50, cipher=CIPHER)  # the same file: its run is taken
        assert err.value.exit_code == 8 and err.value.code == "busy" and "wait for it to finish" in (err.value.hint or "")
        run = store.read_frame("SELECT status, host, pid, read FROM ingest_runs")  # its run, untouched by the refused one
        assert run[["status", "host", "pid", "read"]].iloc[0].tolist() == ["running", "loader-2", 4242, 100]
        go_on.touch()
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    run = store.read_frame("SELECT status, read, accepted, duplicates, rejected FROM ingest_runs")
    assert len(run) == 1 and run["status"].iloc[0] == "done" and int(run["read"].iloc[0]) == 400
    assert store.count("events") == 400 and _lock_files(store) == []


def test_the_sources_status_shows_a_dead_run_interrupted(any_store):
    from persona.ingest.sources.status import sources_status

    host, _ = this_process()
    _run(any_store, "running", host, _dead_pid(), source="crm.csv")
    runs = sources_status(any_store, [])["other_runs"]
    assert [(r["source"], r["status"]) for r in runs] == [("crm.csv", "interrupted")]
    assert "stopped before it finished" in runs[0]["error"]


@pytest.mark.postgres
def test_postgres_settles_a_killed_loader_of_another_host_not_a_live_one(pg_store, tmp_path):
    f = _events_file(tmp_path)
    proc = _loader(pg_store, f, owner=("loader-2", 4242), stall_after=2)  # another machine's process, as its run says
    try:
        _wait_for_position(pg_store, proc, 100)
        assert settle_dead_runs(pg_store) == 0  # alive: it holds its run's lock (its host is not this one)
        with pytest.raises(BusyError, match="pid 4242 on loader-2") as err:
            ingest_file(pg_store, "events", f, chunk_size=50, cipher=CIPHER)  # the same file: its run is taken
        assert "wait for it to finish" in (err.value.hint or "")
        run = pg_store.read_frame("SELECT status, host, pid FROM ingest_runs")
        assert run[["status", "host", "pid"]].iloc[0].tolist() == ["running", "loader-2", 4242]
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    deadline = time.monotonic() + 30  # PostgreSQL ends the dead client's session (and its lock) in a moment
    while settle_dead_runs(pg_store) == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    run = pg_store.read_frame("SELECT status, error FROM ingest_runs")
    assert run["status"].tolist() == ["interrupted"]
    assert "pid 4242 on loader-2" in run["error"].iloc[0] and "run the same command again" in run["error"].iloc[0]
    rep = ingest_file(pg_store, "events", f, chunk_size=50, cipher=CIPHER)
    assert rep.resumed and rep.read == 400 == rep.accepted + rep.duplicates + rep.rejected
    assert pg_store.count("events") == 400
    run = pg_store.read_frame("SELECT status, host, pid FROM ingest_runs").iloc[0]
    assert (run["status"], run["host"], int(run["pid"])) == ("done", *this_process())
    assert _advisory_locks(pg_store) == 0


@pytest.mark.postgres
def test_postgres_a_run_holds_its_lock_while_it_loads_and_lets_go_when_it_fails(pg_store):
    held = []

    def frames():
        yield pd.DataFrame({"customer_id": ["c1", "c2"], "event_type": "view", "timestamp": [1_600_000_000, 1_600_000_001]})
        held.append(_advisory_locks(pg_store))  # read from another connection while the run is under way
        raise SourceError("the source broke off", hint="pull it again")

    with pytest.raises(SourceError):
        ingest_frames(pg_store, "events", frames(), source="api", cipher=CIPHER)
    assert held == [1] and _advisory_locks(pg_store) == 0  # pg_locks covers the pool's idle connections too
    run = pg_store.read_frame("SELECT status, error FROM ingest_runs").iloc[0]
    assert (run["status"], run["error"]) == ("failed", "the source broke off")
    assert settle_dead_runs(pg_store) == 0


def test_sqlite_a_run_holds_its_lock_file_while_it_loads_and_removes_it_when_it_fails(store):
    held = []

    def frames():
        yield pd.DataFrame({"customer_id": ["c1", "c2"], "event_type": "view", "timestamp": [1_600_000_000, 1_600_000_001]})
        held.append(_lock_held(store, 1))  # another open file of this process is refused the lock too
        held.append(settle_dead_runs(store))
        raise SourceError("the source broke off", hint="pull it again")

    with pytest.raises(SourceError):
        ingest_frames(store, "events", frames(), source="api", cipher=CIPHER)
    assert held == [True, 0] and _lock_files(store) == []
    run = store.read_frame("SELECT status, error FROM ingest_runs").iloc[0]
    assert (run["status"], run["error"]) == ("failed", "the source broke off")


def test_a_failure_just_after_the_run_starts_is_recorded_not_left_running(any_store, tmp_path, monkeypatch):
    import persona.ingest.runner as runner

    def broken(_store):
        raise OSError("disk went away")

    monkeypatch.setattr(runner, "erased_customers", broken)  # fails after the run row exists, before any chunk
    f = tmp_path / "ev.csv"
    f.write_text("customer_id,event_type,timestamp\nc1,view,1600000000\n", encoding="utf-8")
    with pytest.raises(OSError):
        ingest_file(any_store, "events", f, cipher=CIPHER)
    row = any_store.read_frame("SELECT status, error FROM ingest_runs").iloc[0]
    assert row["status"] == "failed" and "OSError" in row["error"]
    assert settle_dead_runs(any_store) == 0
    assert _lock_files(any_store) == []


def test_sqlite_a_run_whose_lock_file_cannot_be_made_fails_with_a_store_error_and_records_nothing(store, tmp_path):
    from persona.errors import StoreError
    from persona.store.locks import locks_dir

    locks_dir(store.settings).parent.mkdir(parents=True, exist_ok=True)
    locks_dir(store.settings).write_text("a file where the locks folder should be")
    f = tmp_path / "ev.csv"
    f.write_text("customer_id,event_type,timestamp\nc1,view,1600000000\n", encoding="utf-8")
    with pytest.raises(StoreError, match="cannot lock .* for ingest run") as info:
        ingest_file(store, "events", f, cipher=CIPHER)
    assert "writable" in info.value.hint
    assert store.count("ingest_runs") == 0 and store.count("events") == 0  # the run's row went with its transaction
