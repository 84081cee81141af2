"""Large loads: which indexes wait for the end, the one-transaction first load on PostgreSQL, exact quarantine."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import pytest
from sqlalchemy import inspect

import persona.ingest.runner as runner
from persona.ingest import ingest_file
from persona.ingest.quarantine import Quarantine
from persona.ingest.writer import EntityWriter
from persona.privacy.crypto import PIICipher
from persona.store.bulk import BulkWriter

CIPHER = PIICipher(b"f" * 32)
ALL_INDEXES = {"ix_events_customer_id", "ix_events_ts", "ix_events_event_type", "ix_events_product_id"}


def _events(tmp_path: Path, n: int = 250, repeats: int = 10) -> Path:
    """n events with ids; the last ``repeats`` rows reuse the first ids (other chunks) with other values; one bad row."""
    lines = ["event_id,customer_id,product_id,event_type,timestamp,value"]
    lines += [f"e{i},c{i % 13},p{i % 7},view,{1_600_000_000 + i},{i}" for i in range(n - repeats)]
    lines += [f"e{i},c{i % 13},p{i % 7},view,{1_600_000_000 + i},{10_000 + i}" for i in range(repeats)]
    lines.insert(60, "e_bad,c1,p1,view,not-a-time,1")
    p = tmp_path / "ev.csv"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p


def _quarantined(path: str | None) -> list[list[str]]:
    assert path is not None
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.reader(fh))[1:]


@pytest.fixture
def large_loads(monkeypatch):
    """Treat the small test files as large loads (the paths that defer or suspend indexes)."""
    monkeypatch.setattr(runner, "DEFER_INDEX_ROWS", 10)


def _constraints(store) -> tuple[set[str], set[str]]:
    insp = inspect(store.engine)
    uniques = {u["name"] for u in insp.get_unique_constraints("events")}
    uniques |= {ix["name"] for ix in insp.get_indexes("events") if ix["unique"]}
    return {ix["name"] for ix in insp.get_indexes("events") if not ix["unique"]}, uniques


@pytest.mark.postgres
def test_first_load_on_postgres_is_one_transaction_with_keys_built_at_the_end(pg_store, tmp_path, monkeypatch, large_loads):
    restored = []
    real_restore = BulkWriter.restore_keys
    monkeypatch.setattr(BulkWriter, "restore_keys", lambda self, t: restored.append(real_restore(self, t)) or restored[-1])

    rep = ingest_file(pg_store, "events", _events(tmp_path), chunk_size=40, cipher=CIPHER)
    assert restored == [10]  # the repeated ids came in other chunks: found and removed when the key was rebuilt
    assert (rep.read, rep.accepted, rep.duplicates, rep.rejected) == (251, 240, 10, 1)
    assert pg_store.count("events") == 240
    first = pg_store.read_frame("SELECT event_id, value FROM events WHERE event_id IN ('e0', 'e9')")
    assert sorted(first["value"].tolist()) == [0.0, 9.0]  # the first copy of each id stays
    run = pg_store.read_frame("SELECT read, accepted, duplicates, rejected, status FROM ingest_runs")
    assert run.iloc[0].tolist() == [251, 240, 10, 1, "done"]
    indexes, uniques = _constraints(pg_store)
    assert ALL_INDEXES <= indexes and "uq_events_event_id" in uniques
    assert inspect(pg_store.engine).get_pk_constraint("events")["name"] == "pk_events"
    again = ingest_file(pg_store, "events", _events(tmp_path), chunk_size=40, cipher=CIPHER)  # not empty now: per chunk
    assert (again.accepted, again.duplicates, again.rejected) == (0, 250, 1) and restored == [10]


@pytest.mark.postgres
def test_first_load_killed_on_postgres_rolls_back_whole_and_reruns(pg_store, tmp_path, monkeypatch, large_loads):
    f = _events(tmp_path)
    real = EntityWriter.write
    calls = {"n": 0}

    def flaky(self, w, frame):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return real(self, w, frame)

    monkeypatch.setattr(EntityWriter, "write", flaky)
    with pytest.raises(KeyboardInterrupt):
        ingest_file(pg_store, "events", f, chunk_size=40, cipher=CIPHER)
    time.sleep(1.1)  # the rerun starts in another second: it must still find the killed attempt's quarantine file
    assert pg_store.count("events") == 0  # all or nothing, keys and indexes as before
    indexes, uniques = _constraints(pg_store)
    assert ALL_INDEXES <= indexes and "uq_events_event_id" in uniques
    run = pg_store.read_frame("SELECT status, read, position, quarantine FROM ingest_runs")
    assert run[["status", "read", "position"]].iloc[0].tolist() == ["interrupted", 0, 0]

    monkeypatch.setattr(EntityWriter, "write", real)
    rep = ingest_file(pg_store, "events", f, chunk_size=40, cipher=CIPHER)
    assert rep.resumed and (rep.read, rep.accepted, rep.duplicates, rep.rejected) == (251, 240, 10, 1)
    bad = _quarantined(rep.quarantine)  # written before the crash, trimmed on resume, written again: once
    assert len(bad) == 1 and bad[0][0] == "61" and bad[0][2].startswith("e_bad,")
    assert len(list(Path(rep.quarantine).parent.iterdir())) == 1  # and no file of the killed attempt left beside it


def test_sqlite_large_load_keeps_cheap_indexes_live(store, tmp_path, monkeypatch, large_loads):
    assert store.dialect == "sqlite"
    seen = []
    real = EntityWriter.write

    def spy(self, w, frame):
        seen.append({ix["name"] for ix in inspect(w.conn).get_indexes("events")})
        return real(self, w, frame)

    monkeypatch.setattr(EntityWriter, "write", spy)
    rep = ingest_file(store, "events", _events(tmp_path), chunk_size=40, cipher=CIPHER)
    assert (rep.accepted, rep.duplicates, rep.rejected) == (240, 10, 1)
    assert seen and all(s & ALL_INDEXES == set(runner.SQLITE_LIVE_INDEXES) for s in seen)
    assert ALL_INDEXES <= _constraints(store)[0]


def test_quarantine_trim_counts_records_not_lines(tmp_path):
    q = Quarantine(tmp_path / "q.csv")
    rows = [(1, "bad", 'a,"quoted"\nsecond line'), (2, "bad", "plain"), (3, "bad", "x\r\ny"), (4, "bad", "z")]
    q.write(rows)
    q.trim(9)  # more than there are: unchanged
    assert len(_quarantined(str(q.path))) == 4
    q.trim(2)
    assert _quarantined(str(q.path)) == [["1", "bad", 'a,"quoted"\nsecond line'], ["2", "bad", "plain"]]
    q.write([(5, "bad", "after")])  # appends go on after the kept rows
    assert [r[0] for r in _quarantined(str(q.path))] == ["1", "2", "5"]
    q.trim(0)
    assert not q.path.exists()


@pytest.mark.postgres
def test_first_load_leaves_an_unfamiliar_schema_alone(pg_store, tmp_path, monkeypatch, large_loads):
    with pg_store.engine.begin() as c:  # the key as a unique index, as a hand-made schema might have it
        c.exec_driver_sql("ALTER TABLE events DROP CONSTRAINT uq_events_event_id")
        c.exec_driver_sql("CREATE UNIQUE INDEX events_event_id_key ON events (event_id)")
    monkeypatch.setattr(BulkWriter, "restore_keys", lambda self, t: pytest.fail("keys were suspended"))
    rep = ingest_file(pg_store, "events", _events(tmp_path), chunk_size=40, cipher=CIPHER)
    assert (rep.read, rep.accepted, rep.duplicates, rep.rejected) == (251, 240, 10, 1)  # still one transaction, keys live
    assert "events_event_id_key" in _constraints(pg_store)[1]
