"""Incremental SQL pulls (``since_column``): a real SQLite file and the real PostgreSQL server (``-m postgres``).

Each second run is checked on ``read`` (rows the source returned), so the tests see that the query was filtered,
not only that nothing new was stored.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from persona.errors import CursorError, InputError, SourceUnavailableError
from persona.ingest import ingest_sql
from persona.ingest.sources.cursor import list_cursors
from persona.privacy.crypto import PIICipher

CIPHER = PIICipher(b"r" * 32)
QUERY = "SELECT id AS customer_id, city, updated_at FROM crm"


def _counts(rep) -> tuple[int, int, int, int]:
    return rep.read, rep.accepted, rep.duplicates, rep.rejected


@pytest.fixture
def crm(tmp_path: Path) -> tuple[str, sqlite3.Connection]:
    """A CRM table in a SQLite file: 6 customers, two of them sharing the latest updated_at."""
    path = tmp_path / "crm.db"
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("CREATE TABLE crm (id TEXT, city TEXT, updated_at TEXT, seq INTEGER)")
    rows = [(f"c{i}", "Paris", f"2026-11-01 10:00:0{i}", i) for i in range(5)] + [("c5", "Lyon", "2026-11-01 10:00:04", 5)]
    con.executemany("INSERT INTO crm VALUES (?, ?, ?, ?)", rows)
    yield f"sqlite:///{path}", con
    con.close()


def test_first_run_reads_all_then_only_new_changed_and_rows_at_the_cursor(store, crm):
    url, con = crm
    first = ingest_sql(store, "customers", QUERY, url, cipher=CIPHER, since_column="updated_at", chunk_size=2)
    assert _counts(first) == (6, 6, 0, 0)
    assert first.cursor == {"key": first.cursor["key"], "column": "updated_at", "from": None, "to": "2026-11-01 10:00:04",
                            "type": "text", "missing": 0, "full": False}
    con.execute("UPDATE crm SET city = 'Nice', updated_at = '2026-11-02 08:00:00' WHERE id = 'c1'")  # changed
    con.execute("INSERT INTO crm VALUES ('c6', 'Lille', '2026-11-02 09:00:00', 6)")  # new
    con.execute("INSERT INTO crm VALUES ('c7', 'Metz', '2026-11-01 10:00:04', 7)")  # arrived late, at the cursor's value
    second = ingest_sql(store, "customers", QUERY, url, cipher=CIPHER, since_column="updated_at", chunk_size=2)
    # c4 and c5 (at the old cursor) are read again and count as duplicates; c7 is not lost; c0, c2, c3 are not read
    assert _counts(second) == (5, 3, 2, 0)
    assert (second.cursor["from"], second.cursor["to"]) == ("2026-11-01 10:00:04", "2026-11-02 09:00:00")
    assert second.cursor["key"] == first.cursor["key"]
    cities = dict(store.read_frame("SELECT customer_id, city FROM customers").values.tolist())
    assert cities["c1"] == "Nice" and cities["c7"] == "Metz" and len(cities) == 8
    third = ingest_sql(store, "customers", QUERY, url, cipher=CIPHER, since_column="updated_at")
    assert _counts(third) == (1, 0, 1, 0) and third.cursor["to"] == "2026-11-02 09:00:00"
    [stored] = list_cursors(store)
    assert (stored["value"], stored["type"], stored["run_id"]) == ("2026-11-02 09:00:00", "text", second.run_id)


def test_integer_cursor_and_full_run(store, crm):
    url, con = crm
    query = "SELECT id AS customer_id, seq FROM crm"
    first = ingest_sql(store, "customers", query, url, cipher=CIPHER, since_column="seq")
    assert _counts(first) == (6, 6, 0, 0) and first.cursor["to"] == 5 and first.cursor["type"] == "integer"
    con.execute("INSERT INTO crm VALUES ('c10', 'Brest', NULL, 10)")
    second = ingest_sql(store, "customers", query, url, cipher=CIPHER, since_column="seq")
    assert _counts(second) == (2, 1, 1, 0) and (second.cursor["from"], second.cursor["to"]) == (5, 10)
    full = ingest_sql(store, "customers", query, url, cipher=CIPHER, since_column="seq", full=True)
    assert _counts(full) == (7, 0, 7, 0) and full.cursor["from"] is None and full.cursor["to"] == 10
    assert full.cursor["full"] is True
    con.execute("DELETE FROM crm WHERE seq >= 3")  # the source was rewound: a full run stores what it now holds
    rewound = ingest_sql(store, "customers", query, url, cipher=CIPHER, since_column="seq", full=True)
    assert rewound.read == 3 and rewound.cursor["to"] == 2
    assert [c["value"] for c in list_cursors(store)] == [2]


def test_rows_without_a_value_are_read_by_full_runs_only(store, crm):
    url, con = crm
    con.execute("INSERT INTO crm VALUES ('c9', 'Caen', NULL, 9)")
    first = ingest_sql(store, "customers", QUERY, url, cipher=CIPHER, since_column="updated_at")
    assert first.read == 7 and first.cursor["missing"] == 1 and first.cursor["to"] == "2026-11-01 10:00:04"
    con.execute("UPDATE crm SET city = 'Rennes' WHERE id = 'c9'")
    second = ingest_sql(store, "customers", QUERY, url, cipher=CIPHER, since_column="updated_at")
    assert second.read == 2 and second.cursor["missing"] == 0  # c4 and c5 at the cursor; not c9
    full = ingest_sql(store, "customers", QUERY, url, cipher=CIPHER, since_column="updated_at", full=True)
    assert _counts(full) == (7, 1, 6, 0) and full.cursor["missing"] == 1  # c9's change arrives


def test_a_failure_part_way_keeps_the_old_cursor_and_the_rerun_loses_nothing(store, crm):
    url, con = crm
    query = "SELECT id AS customer_id, seq FROM crm"
    ingest_sql(store, "customers", query, url, cipher=CIPHER, since_column="seq")
    con.executemany("INSERT INTO crm VALUES (?, 'Pau', NULL, ?)", [(f"n{i}", i) for i in range(6, 26)])
    con.execute("UPDATE crm SET seq = 'twenty' WHERE id = 'n20'")  # the 16th row read: a value that cannot be ordered
    with pytest.raises(CursorError, match=r"'seq' holds values that cannot be ordered together \(number and text\)"):
        ingest_sql(store, "customers", query, url, cipher=CIPHER, since_column="seq", chunk_size=5)
    kept = store.count("customers")
    assert kept == 6 + 14  # the 3 whole chunks before the bad one: c5 again, n6 to n19
    assert [c["value"] for c in list_cursors(store)] == [5]  # not moved
    assert store.read_frame("SELECT status FROM ingest_runs ORDER BY id")["status"].tolist() == ["done", "failed"]
    con.execute("UPDATE crm SET seq = 20 WHERE id = 'n20'")
    rerun = ingest_sql(store, "customers", query, url, cipher=CIPHER, since_column="seq", chunk_size=5)
    assert rerun.read == 21 and rerun.accepted == 26 - kept and rerun.duplicates == 21 - (26 - kept)
    assert store.count("customers") == 26 and rerun.cursor["to"] == 25


def test_query_text_with_colons_and_percents_is_run_as_written(store, crm):
    url, con = crm
    query = "SELECT id AS customer_id, city || ':' || '10:00%' AS note, seq FROM crm WHERE city LIKE '%a%' ;"
    first = ingest_sql(store, "customers", query, url, cipher=CIPHER, since_column="SEQ")  # case of the name ignored
    assert first.read == 5 and first.cursor["to"] == 4 and first.cursor["column"] == "SEQ"
    con.execute("INSERT INTO crm VALUES ('c8', 'Paris', NULL, 8)")
    second = ingest_sql(store, "customers", query, url, cipher=CIPHER, since_column="SEQ")
    assert _counts(second) == (2, 1, 1, 0)
    note = store.read_frame("SELECT attributes FROM customers WHERE customer_id = 'c8'")["attributes"].iloc[0]
    assert "Paris:10:00%" in note


def test_mistakes_are_clear_errors_and_write_nothing(store, crm):
    url, con = crm
    with pytest.raises(CursorError, match=r"'updated' is not a column of the query's result \(columns there: "
                                          r"customer_id, city, updated_at\)"):
        ingest_sql(store, "customers", QUERY, url, cipher=CIPHER, since_column="updated")
    with pytest.raises(InputError, match="applies to incremental pulls only"):
        ingest_sql(store, "customers", QUERY, url, cipher=CIPHER, full=True)
    with pytest.raises(InputError, match="the cursor column is empty"):
        ingest_sql(store, "customers", QUERY, url, cipher=CIPHER, since_column=" ")
    con.execute("UPDATE crm SET seq = 'x' WHERE id = 'c2'")  # text and numbers in one column (SQLite allows it)
    with pytest.raises(CursorError, match=r"'seq' holds values that cannot be ordered together \(number and text\)"):
        ingest_sql(store, "customers", "SELECT id AS customer_id, seq FROM crm", url, cipher=CIPHER, since_column="seq")
    assert store.count("customers") == 0 and store.count("ingest_runs") == 0 and list_cursors(store) == []
    con.execute("UPDATE crm SET seq = 2 WHERE id = 'c2'")
    ingest_sql(store, "customers", "SELECT id AS customer_id, seq FROM crm", url, cipher=CIPHER, since_column="seq")
    with pytest.raises(CursorError, match="'updated' is not a column"):  # checked before the wrapped query runs, too
        ingest_sql(store, "customers", "SELECT id AS customer_id, seq FROM crm", url, cipher=CIPHER, since_column="updated")


@pytest.fixture
def pg_source(pg_url: str):
    """A scratch table in a fresh PostgreSQL database (dropped with it)."""
    engine = create_engine(pg_url)
    with engine.begin() as c:
        c.execute(text("CREATE TABLE crm (id text, city text, changed timestamptz, local_ts timestamp, seq bigint, "
                       "day date)"))
        c.execute(text("INSERT INTO crm SELECT 'c' || i, 'City ' || i, "
                       "timestamptz '2026-11-01 10:00:00+02' + i * interval '1 minute', "
                       "timestamp '2026-11-01 10:00:00' + i * interval '1 minute', i, date '2026-11-01' + i "
                       "FROM generate_series(1, 6) AS i"))
    yield pg_url, engine
    engine.dispose()


@pytest.mark.postgres
def test_postgres_timestamps_with_time_zone_are_kept_and_compared_as_instants(store, pg_source):
    pg_url, engine = pg_source
    password_url = pg_url.replace("://postgres@", "://postgres:pw-secret-77@")  # trust auth ignores it
    query = "SELECT id AS customer_id, city, changed FROM crm WHERE city LIKE 'City %' AND changed::date > '2026-01-01'"
    first = ingest_sql(store, "customers", query, password_url, cipher=CIPHER, since_column="changed", chunk_size=4)
    assert first.read == 6 and first.cursor["type"] == "timestamptz"
    assert datetime.fromisoformat(first.cursor["to"]) == datetime(2026, 11, 1, 8, 6, tzinfo=UTC)
    with engine.begin() as c:  # written in another zone: 09:07+01 is 08:07 UTC, after the cursor (08:06 UTC)
        c.execute(text("INSERT INTO crm (id, city, changed) VALUES ('c7', 'City 7', '2026-11-01 09:07:00+01'), "
                       "('c8', 'City 8', '2026-11-01 09:05:00+01')"))  # 08:05 UTC: before the cursor, not read
    second = ingest_sql(store, "customers", query, password_url.replace("pw-secret-77", "rotated-88"), cipher=CIPHER,
                        since_column="changed")
    assert _counts(second) == (2, 1, 1, 0)  # c6 (at the cursor) again, and c7
    assert datetime.fromisoformat(second.cursor["to"]) == datetime(2026, 11, 1, 9, 7, tzinfo=timezone(timedelta(hours=1)))
    [stored] = list_cursors(store)
    assert "pw-secret-77" not in stored["source"] and "postgres:***@" in stored["source"]
    assert stored["key"] == first.cursor["key"] == second.cursor["key"]  # the password is no part of the key


@pytest.mark.postgres
def test_postgres_naive_timestamps_dates_and_bigints(store, pg_source):
    pg_url, engine = pg_source
    for column, kind, last in (("local_ts", "timestamp", "2026-11-01T10:06:00"), ("day", "date", "2026-11-07"),
                               ("seq", "integer", 6)):
        query = f"SELECT id AS customer_id, {column} FROM crm"
        first = ingest_sql(store, "customers", query, pg_url, cipher=CIPHER, since_column=column)
        assert (first.read, first.cursor["type"], first.cursor["to"]) == (6, kind, last)
        again = ingest_sql(store, "customers", query, pg_url, cipher=CIPHER, since_column=column)
        assert _counts(again) == (1, 0, 1, 0), column  # only the row at the cursor


@pytest.mark.postgres
def test_postgres_connection_lost_part_way_keeps_the_cursor(store, pg_source, monkeypatch):
    import persona.ingest.runner as runner
    from tests.conftest import PG_ADMIN_URL

    pg_url, engine = pg_source
    query = "SELECT id AS customer_id, seq FROM crm"
    ingest_sql(store, "customers", query, pg_url, cipher=CIPHER, since_column="seq")
    with engine.begin() as c:
        c.execute(text("INSERT INTO crm (id, seq) SELECT 'n' || i, i FROM generate_series(7, 60) AS i"))
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    real = runner._commit_chunk

    def commit_then_kill_the_source(*args, **kwargs):
        real(*args, **kwargs)
        with admin.connect() as c:  # the source database's server process dies after the first chunk is stored
            c.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :d"),
                      {"d": pg_url.rsplit("/", 1)[1]})

    monkeypatch.setattr(runner, "_commit_chunk", commit_then_kill_the_source)
    try:
        with pytest.raises(SourceUnavailableError, match="failed after row"):
            ingest_sql(store, "customers", query, pg_url, cipher=CIPHER, since_column="seq", chunk_size=10)
    finally:
        monkeypatch.setattr(runner, "_commit_chunk", real)
        admin.dispose()
    assert [c["value"] for c in list_cursors(store)] == [6]
    kept = store.count("customers")
    rerun = ingest_sql(store, "customers", query, pg_url, cipher=CIPHER, since_column="seq")
    assert rerun.read == 55 and rerun.accepted == 60 - kept and store.count("customers") == 60
    assert rerun.cursor["to"] == 60


def test_a_relative_sqlite_path_is_keyed_by_the_file_it_names(store, crm, tmp_path, monkeypatch):
    url, _con = crm
    query = "SELECT id AS customer_id, seq FROM crm"
    monkeypatch.chdir(tmp_path)
    first = ingest_sql(store, "customers", query, "sqlite:///crm.db", cipher=CIPHER, since_column="seq")
    again = ingest_sql(store, "customers", query, url, cipher=CIPHER, since_column="seq")  # the same file, absolute
    assert again.cursor["key"] == first.cursor["key"] and again.read == 1
    other = tmp_path / "elsewhere"
    other.mkdir()
    sqlite3.connect(other / "crm.db").executescript("CREATE TABLE crm (id TEXT, seq INTEGER); INSERT INTO crm VALUES ('x1', 1);")
    monkeypatch.chdir(other)  # another file with the same relative name has its own cursor
    there = ingest_sql(store, "customers", query, "sqlite:///crm.db", cipher=CIPHER, since_column="seq")
    assert there.cursor["key"] != first.cursor["key"] and there.cursor["from"] is None and there.read == 1
