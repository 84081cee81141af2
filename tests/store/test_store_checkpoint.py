"""Background WAL checkpoints: commits stop checkpointing inline, the thread keeps the log short."""

from __future__ import annotations

import os
import time

from sqlalchemy import create_engine, text

from persona.store.checkpoint import WalCheckpointer
from persona.store.sql import make_engine


def _write(engine, rows: int, start: int = 0) -> None:
    with engine.begin() as c:
        c.execute(text("INSERT INTO t (id, pad) VALUES (:id, :pad)"),
                  [{"id": i, "pad": "x" * 400} for i in range(start, start + rows)])


def _engine(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    with engine.begin() as c:
        c.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, pad TEXT)"))
    return engine


def test_commits_leave_checkpoints_to_the_thread_which_keeps_the_log_bounded(tmp_path):
    engine = _engine(tmp_path)
    cp = WalCheckpointer(engine, interval=0.05).start()
    try:
        with engine.connect() as c:
            assert c.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == cp.inline_pages
        for k in range(20):
            _write(engine, 2000, start=k * 2000)
        deadline = time.monotonic() + 10
        while cp.checkpoints_ < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert cp.checkpoints_ >= 3
    finally:
        cp.stop()
    with engine.connect() as c:  # everything is in the database file after the last checkpoint
        busy, log_frames, done = c.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()
        assert busy == 0 and log_frames == done
        assert c.exec_driver_sql("SELECT count(*) FROM t").scalar() == 40_000
    engine.dispose()
    raw = create_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    with raw.connect() as c:
        assert c.exec_driver_sql("SELECT count(*) FROM t").scalar() == 40_000
    assert os.path.getsize(tmp_path / "db.sqlite") > 40_000 * 400


def test_not_sqlite_or_in_memory_is_a_no_op(tmp_path):
    cp = WalCheckpointer(create_engine("sqlite://")).start()
    assert not cp.active and cp._thread is None
    cp.stop()
