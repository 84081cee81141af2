"""SQL source: a real SQLite file and the real PostgreSQL server (``-m postgres``) read as ingestion sources."""

from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from persona.config import load_settings
from persona.errors import SourceError, SourceUnavailableError
from persona.ingest import ingest_sql
from persona.privacy.crypto import PIICipher
from persona.store import Store

CIPHER = PIICipher(b"r" * 32)
PASSWORD = "s3cret-Pw-71"


def _quarantine(path: str) -> list[list[str]]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.reader(fh))[1:]


@pytest.fixture
def shop_db(tmp_path: Path) -> str:
    """A SQLite file standing in for a shop's own database: customers (3 bad rows) and 25 events (3 bad, 1 repeat)."""
    path = tmp_path / "shop.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE crm_customers (id TEXT, email TEXT, city TEXT, signup TEXT, score REAL)")
    con.executemany("INSERT INTO crm_customers VALUES (?, ?, ?, ?, ?)", [
        ("c1", "ann@example.com", "Paris", "2024-01-02", 1.5),
        ("c2", "not-an-email", "Lyon", "2024-01-03", None),
        (None, "bob@example.com", "Nice", "2024-01-04", 2.0),
        ("c3", None, "Lille", "2024-02-30x", 3.0),
        ("c4", "dan@example.com", None, "1700000000", 4.0),
    ])
    con.execute("CREATE TABLE orders (oid TEXT, uid TEXT, kind TEXT, at INTEGER, amount NUMERIC, note TEXT)")
    rows = [(f"e{i}", f"c{i % 4}", "purchase", 1_700_000_000 + i, 10 + i, f"10:{i:02d} a:b") for i in range(25)]
    rows[6] = ("e6", "c2", "purchase", "yesterday-ish", 16, "bad ts")
    rows[11] = ("e3", "c3", "purchase", 1_700_000_003, 13, "repeat of e3")
    rows[18] = ("e18", None, "purchase", 1_700_000_018, 28, "no customer")
    rows[20] = ("e20", "c0", "purchase", 1_700_000_020, "twenty", "amount not a number")
    con.executemany("INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?)", rows)
    con.commit()
    con.close()
    return f"sqlite:///{path}"


ORDERS = "SELECT oid AS event_id, uid AS customer_id, kind AS event_type, at AS timestamp, amount AS revenue, note FROM orders"


def _events(store: Store) -> list[tuple]:
    frame = store.read_frame("SELECT event_id, customer_id, revenue, context FROM events ORDER BY event_id")
    return [tuple(r) for r in frame.itertuples(index=False)]


def test_table_name_with_map_quarantines_bad_rows_with_their_row_number(store, shop_db):
    rep = ingest_sql(store, "customers", "crm_customers", shop_db, mapping=["id=customer_id", "signup=created_at"], cipher=CIPHER)
    assert (rep.read, rep.accepted, rep.duplicates, rep.rejected) == (5, 2, 0, 3)
    assert rep.source.endswith("shop.db SELECT * FROM crm_customers")
    rows = _quarantine(rep.quarantine)
    assert [(r[0], r[1].split(" ")[0]) for r in rows] == [("2", "invalid"), ("3", "missing"), ("4", "unparseable")]
    assert json.loads(rows[0][2]) == {"id": "c2", "email": "not-an-email", "city": "Lyon", "signup": "2024-01-03", "score": None}
    stored = store.read_frame("SELECT customer_id, city, attributes FROM customers ORDER BY customer_id")
    assert stored["customer_id"].tolist() == ["c1", "c4"] and stored["city"].tolist()[0] == "Paris"
    assert json.loads(stored["attributes"].iloc[0]) == {"score": 1.5}


def test_chunked_reading_gives_the_same_result_as_one_chunk(store, shop_db, tmp_path):
    small = ingest_sql(store, "events", ORDERS, shop_db, cipher=CIPHER, chunk_size=4)
    other = Store(load_settings(tmp_path / "ws2", progress=False))
    other.settings.workspace.mkdir(parents=True, exist_ok=True)
    other.create_all()
    try:
        whole = ingest_sql(other, "events", ORDERS, shop_db, cipher=CIPHER, chunk_size=1000)
        counts = [(r.read, r.accepted, r.duplicates, r.rejected) for r in (small, whole)]
        assert counts == [(25, 21, 1, 3)] * 2
        assert _quarantine(small.quarantine) == _quarantine(whole.quarantine)
        assert [r[0] for r in _quarantine(small.quarantine)] == ["7", "19", "21"]
        assert _events(store) == _events(other) and len(_events(store)) == 21
    finally:
        other.dispose()
    e1 = next(r for r in _events(store) if r[0] == "e1")
    assert e1[1:3] == ("c1", 11.0) and json.loads(e1[3]) == {"note": "10:01 a:b"}  # ':' in values is not a bind parameter


def test_rerun_is_idempotent(store, shop_db):
    first = ingest_sql(store, "events", ORDERS, shop_db, cipher=CIPHER, chunk_size=7)
    again = ingest_sql(store, "events", ORDERS, shop_db, cipher=CIPHER, chunk_size=7)
    assert (first.accepted, first.duplicates, first.rejected) == (21, 1, 3)
    assert (again.read, again.accepted, again.duplicates, again.rejected) == (25, 0, 22, 3)
    assert store.count("events") == 21
    assert store.read_frame("SELECT status FROM ingest_runs ORDER BY id")["status"].tolist() == ["done", "done"]


def test_integers_with_nulls_stay_integers_whatever_the_chunk_mix(store, tmp_path):
    """An integer column with a NULL in one chunk only must not turn 5 into 5.0 there: a rerun in another chunk mix
    would hash the same row differently and count it as changed."""
    path = tmp_path / "crm.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE crm (customer_id TEXT, score INTEGER, visits INTEGER)")
    con.executemany("INSERT INTO crm VALUES (?, ?, ?)", [("c1", 5, 1), ("c2", None, 2), ("c3", 7, None), ("c4", 8, 4),
                                                         ("c5", None, 5), ("c6", 3, 6)])
    con.commit()
    con.close()
    first = ingest_sql(store, "customers", "crm", f"sqlite:///{path}", cipher=CIPHER, chunk_size=2)
    again = ingest_sql(store, "customers", "crm", f"sqlite:///{path}", cipher=CIPHER, chunk_size=6)
    part = ingest_sql(store, "customers", "SELECT * FROM crm WHERE customer_id IN ('c3', 'c4')", f"sqlite:///{path}", cipher=CIPHER)
    assert [(r.accepted, r.duplicates) for r in (first, again, part)] == [(6, 0), (0, 6), (0, 2)]
    attrs = store.read_frame("SELECT customer_id, attributes FROM customers ORDER BY customer_id")
    assert [json.loads(a) if a else None for a in attrs["attributes"]] == [
        {"score": 5, "visits": 1}, {"visits": 2}, {"score": 7}, {"score": 8, "visits": 4}, {"visits": 5}, {"score": 3, "visits": 6}]


def test_user_mistakes_are_clear_errors(store, shop_db, tmp_path):
    cases = [
        ("customers", "nope", shop_db, SourceError, r"table 'nope' not found .* \(tables there: crm_customers, orders\)"),
        ("events", "SELEC * FROM orders", shop_db, SourceError, "refused the query: near \"SELEC\": syntax error"),
        ("events", "DELETE FROM orders", shop_db, SourceError, "refused the query: attempt to write a readonly database"),
        ("events", "SELECT * FROM nowhere", shop_db, SourceError, "no such table: nowhere"),
        ("events", "  ", shop_db, SourceError, "the SQL query is empty"),
        ("events", "orders", f"sqlite:///{tmp_path / 'missing.db'}", SourceError, "SQLite database file not found"),
        ("events", "orders", "oracle+nodriver://u:pw@h/db", SourceError, "unknown kind of database"),
        ("events", "orders", "not a url", SourceError, "cannot parse the database URL"),
        ("events", "orders", f"postgresql://app:{PASSWORD}@127.0.0.1:1/shop", SourceUnavailableError,
         r"cannot connect to postgresql\+psycopg://app:\*\*\*@127.0.0.1:1/shop"),
    ]
    for entity, query, url, exc, pattern in cases:
        with pytest.raises(exc, match=pattern) as ei:
            ingest_sql(store, entity, query, url, cipher=CIPHER)
        assert PASSWORD not in str(ei.value)
    assert store.count("events") == 0 and store.count("ingest_runs") == 0
    assert sqlite3.connect(shop_db.removeprefix("sqlite:///")).execute("SELECT count(*) FROM orders").fetchone() == (25,)


@pytest.mark.postgres
def test_postgres_source_types_chunks_and_redacted_password(store, pg_url):
    engine = create_engine(pg_url)
    with engine.begin() as c:
        c.execute(text("CREATE TABLE catalogue (sku text, title text, price numeric(10,2), in_stock boolean, "
                       "added timestamptz, specs jsonb, ref uuid)"))
        c.execute(text("INSERT INTO catalogue SELECT 'p' || i, 'Item ' || i, i * 1.25, i % 2 = 0, "
                       "timestamptz '2024-03-01 12:00+02' + i * interval '1 day', jsonb_build_object('size', i), "
                       "md5(i::text)::uuid FROM generate_series(1, 9) AS i"))
        c.execute(text("INSERT INTO catalogue VALUES (NULL, 'no sku', 1, true, now(), NULL, NULL)"))
        c.execute(text("CREATE SEQUENCE catalogue_seq"))
    engine.dispose()
    url = pg_url.replace("://postgres@", f"://postgres:{PASSWORD}@")  # trust auth ignores the password
    rep = ingest_sql(store, "products", "SELECT * FROM catalogue ORDER BY sku NULLS LAST", url,
                     mapping={"sku": "product_id", "added": "created_at"}, cipher=CIPHER, chunk_size=3)
    assert (rep.read, rep.accepted, rep.duplicates, rep.rejected) == (10, 9, 0, 1)
    assert "postgres:***@" in rep.source and PASSWORD not in json.dumps(rep.as_dict())
    assert PASSWORD not in store.read_frame("SELECT source FROM ingest_runs")["source"].iloc[0]
    assert _quarantine(rep.quarantine)[0][:2] == ["10", "missing product_id"]
    got = store.read_frame("SELECT product_id, price, in_stock, created_at, attributes FROM products WHERE product_id = 'p2'")
    assert got["price"].iloc[0] == 2.5 and bool(got["in_stock"].iloc[0]) is True
    assert str(got["created_at"].iloc[0]).startswith("2024-03-03 10:00")  # 12:00+02 in UTC
    attrs = json.loads(got["attributes"].iloc[0])
    assert attrs["specs"] == {"size": 2} and len(attrs["ref"]) == 36
    for writes in ("WITH gone AS (DELETE FROM catalogue RETURNING *) SELECT * FROM gone",
                   "SELECT nextval('catalogue_seq')"):
        with pytest.raises(SourceError, match="refused the query"):
            ingest_sql(store, "products", writes, url, cipher=CIPHER)
    engine = create_engine(pg_url)
    with engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM catalogue")).scalar() == 10
    engine.dispose()


@pytest.mark.postgres
def test_postgres_connection_lost_mid_stream_keeps_whole_chunks_and_rerun_completes(store, pg_url, monkeypatch):
    import persona.ingest.runner as runner
    from tests.conftest import PG_ADMIN_URL

    engine = create_engine(pg_url)
    with engine.begin() as c:
        c.execute(text("CREATE TABLE clicks AS SELECT 'e' || i AS event_id, 'c' || (i % 7) AS customer_id, "
                       "'click' AS event_type, 1700000000 + i AS timestamp FROM generate_series(1, 100) AS i"))
    engine.dispose()
    database = pg_url.rsplit("/", 1)[1]
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    real = runner._commit_chunk
    commits = {"n": 0}

    def commit_then_kill_the_source(*args, **kwargs):
        real(*args, **kwargs)
        commits["n"] += 1
        if commits["n"] == 1:  # the source database's server process dies after the first chunk is stored
            with admin.connect() as c:
                c.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :d"), {"d": database})

    monkeypatch.setattr(runner, "_commit_chunk", commit_then_kill_the_source)
    try:
        with pytest.raises(SourceUnavailableError, match="failed after row") as ei:
            ingest_sql(store, "events", "clicks", pg_url, cipher=CIPHER, chunk_size=10)
    finally:
        admin.dispose()
    kept = store.count("events")
    assert kept % 10 == 0 and 10 <= kept < 100  # whole chunks only
    assert f"the {kept} rows read before it are stored" in str(ei.value)
    assert store.read_frame("SELECT status, accepted FROM ingest_runs").values.tolist() == [["failed", kept]]

    monkeypatch.setattr(runner, "_commit_chunk", real)
    rep = ingest_sql(store, "events", "clicks", pg_url, cipher=CIPHER, chunk_size=10)
    assert (rep.read, rep.accepted, rep.duplicates, rep.rejected) == (100, 100 - kept, kept, 0)
    assert store.count("events") == 100


def test_a_pull_that_finds_no_rows_is_still_recorded_as_a_run(store, shop_db):
    rep = ingest_sql(store, "events", ORDERS + " WHERE 1 = 0", shop_db, cipher=CIPHER)
    assert (rep.read, rep.accepted) == (0, 0) and rep.run_id is not None
    runs = store.read_frame("SELECT id, status, \"read\", finished_at FROM ingest_runs")
    assert runs["id"].tolist() == [rep.run_id] and runs["status"].tolist() == ["done"] and runs["finished_at"].notna().all()
