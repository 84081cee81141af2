"""SQLite page size: new databases get large pages (cheaper bulk loads); existing files keep theirs."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy import text

from persona.store.sql import SQLITE_PAGE_SIZE, make_engine


def _page_size(engine) -> int:  # noqa: ANN001
    with engine.connect() as conn:
        return int(conn.execute(text("PRAGMA page_size")).scalar_one())


def test_new_database_uses_large_pages(store) -> None:  # noqa: ANN001
    assert SQLITE_PAGE_SIZE > 4096
    assert _page_size(store.engine) == SQLITE_PAGE_SIZE


def test_existing_database_keeps_its_page_size(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as con:
        con.execute("PRAGMA page_size=4096")
        con.execute("CREATE TABLE t (x INTEGER)")
        con.execute("INSERT INTO t VALUES (1)")
    engine = make_engine(f"sqlite:///{path}")
    try:
        assert _page_size(engine) == 4096
        with engine.connect() as conn:
            assert conn.execute(text("SELECT x FROM t")).scalar_one() == 1
            assert conn.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
    finally:
        engine.dispose()
