"""Customers: PII encrypted at the door (never plaintext in the database file), upserts, stubs filled."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from persona.config import load_settings
from persona.errors import SchemaError
from persona.ingest import ingest_file
from persona.privacy import PIICipher, consent_state
from persona.store import init_workspace, open_store

CRM = """customer_id,email,phone,name,gender,birth_year,city,country,created_at,tier
c1,Ann.Lee@Example.com,+44 20 7946 0958,Ann Lee,f,1980,London,UK,2019-01-05,gold
c2,bob@example.org,,Bob Stone,m,1975,Paris,FR,2019-02-01,
"""


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_no_plaintext_pii_in_sqlite_file_and_wal(tmp_path, monkeypatch):
    monkeypatch.delenv("PERSONA_DATABASE_URL", raising=False)
    monkeypatch.delenv("PERSONA_SECRET_KEY", raising=False)
    settings = load_settings(tmp_path / "ws", progress=False)
    init_workspace(settings)
    store = open_store(settings)
    ingest_file(store, "customers", _write(tmp_path / "c.csv", CRM))
    ingest_file(store, "events", _write(tmp_path / "e.csv", "customer_id,event_type,timestamp\nc1,view,2020-01-01\n"))
    db = settings.workspace / "persona.db"
    blob = b"".join(p.read_bytes() for p in settings.workspace.glob("persona.db*"))  # db + -wal + -shm
    assert Path(str(db) + "-wal").exists()
    for secret in (b"Ann.Lee@Example.com", b"ann.lee@example.com", b"Example.com", b"bob@example.org", b"7946 0958", b"Ann Lee", b"Bob Stone"):
        assert secret not in blob, secret
    cipher = PIICipher.from_settings(settings)
    with sqlite3.connect(db) as con:
        rows = dict(con.execute("SELECT customer_id, email_enc FROM customers").fetchall())
        key, email_hash, phone = con.execute("SELECT customer_key, email_hash, phone_enc FROM customers WHERE customer_id='c2'").fetchone()
    assert cipher.decrypt(rows["c1"]) == "Ann.Lee@Example.com"
    assert key == cipher.pseudonym("c2") and email_hash == cipher.email_hash("BOB@example.org") and phone is None
    store.dispose()


def test_upsert_identical_is_duplicate_changed_is_update_and_stub_filled(any_store, tmp_path):
    cipher = PIICipher(b"u" * 32)
    ingest_file(any_store, "events", _write(tmp_path / "e.csv", "customer_id,event_type,timestamp\nc2,view,2020-01-01\n"), cipher=cipher)
    assert any_store.read_frame("SELECT is_stub FROM customers")["is_stub"].astype(bool).tolist() == [True]
    f = _write(tmp_path / "c.csv", CRM)
    rep = ingest_file(any_store, "customers", f, cipher=cipher)
    assert (rep.read, rep.accepted, rep.duplicates) == (2, 2, 0)
    got = any_store.read_frame("SELECT customer_id, is_stub, city, birth_year, attributes FROM customers ORDER BY customer_id")
    assert got["is_stub"].astype(bool).tolist() == [False, False] and got["city"].tolist() == ["London", "Paris"]
    assert int(got["birth_year"].iloc[0]) == 1980
    again = ingest_file(any_store, "customers", f, cipher=cipher)
    assert (again.accepted, again.duplicates) == (0, 2)
    changed = _write(tmp_path / "c2.csv", CRM.replace("Paris", "Lyon"))
    rep3 = ingest_file(any_store, "customers", changed, cipher=cipher)
    assert (rep3.accepted, rep3.duplicates) == (1, 1)
    assert any_store.read_frame("SELECT city FROM customers WHERE customer_id = 'c2'")["city"].tolist() == ["Lyon"]
    # a file with fewer columns updates only what it has
    ingest_file(any_store, "customers", _write(tmp_path / "c3.csv", "customer_id,city\nc1,Leeds\n"), cipher=cipher)
    row = any_store.read_frame("SELECT city, email_enc FROM customers WHERE customer_id = 'c1'")
    assert row["city"].iloc[0] == "Leeds" and cipher.decrypt(bytes(row["email_enc"].iloc[0])) == "Ann.Lee@Example.com"
    assert any_store.count("customers") == 2


def test_consents_file_append_only_and_state(any_store, tmp_path):
    cipher = PIICipher(b"v" * 32)
    f = _write(tmp_path / "consents.csv", "customer_id,channel,purpose,granted,timestamp,source\n"
                                          "c1,email,marketing,yes,2020-01-01,signup\nc1,EMAIL,marketing,no,2020-03-01,unsubscribe\n"
                                          "c2,email,marketing,true,2020-01-01,signup\nc2,email,marketing,true,2020-01-01,signup\n"
                                          "c3,email,marketing,perhaps,2020-01-01,signup\n")
    rep = ingest_file(any_store, "consents", f, cipher=cipher)
    assert (rep.read, rep.accepted, rep.duplicates, rep.rejected) == (5, 3, 1, 1)
    again = ingest_file(any_store, "consents", f, cipher=cipher)
    assert (again.accepted, again.duplicates) == (0, 4)
    assert consent_state(any_store, "email", "marketing", customer_ids=["c1", "c2", "c3"]) == {"c1": False, "c2": True, "c3": False}
    assert any_store.count("customers") == 2  # stubs for c1, c2


def test_reviews_with_stubs_and_products_upsert(any_store, tmp_path):
    cipher = PIICipher(b"w" * 32)
    rev = _write(tmp_path / "r.csv", "review_id,customer_id,product_id,rating,text,lang,timestamp,helpful\n"
                                     'r1,c1,p1,5,"Great, really",en,2020-01-01,3\nr2,c2,p1,x,bad,en,2020-01-01,\n')
    rep = ingest_file(any_store, "reviews", rev, cipher=cipher)
    assert (rep.accepted, rep.rejected) == (1, 1) and rep.ignored_columns == ["helpful"]
    assert rep.stubs == {"customers": 1, "products": 1}
    prod = _write(tmp_path / "p.csv", "product_id,title,category,price,in_stock,color\np1,Mug,kitchen,9.5,1,red\n")
    rep = ingest_file(any_store, "products", prod, cipher=cipher)
    assert rep.accepted == 1
    got = any_store.read_frame("SELECT title, is_stub, attributes FROM products")
    assert got["title"].tolist() == ["Mug"] and not bool(got["is_stub"].iloc[0])
    attrs = got["attributes"].iloc[0]
    assert (attrs if isinstance(attrs, dict) else __import__("json").loads(attrs)) == {"color": "red"}


def test_reviews_without_ids_get_content_ids_and_repeats_are_one_review(any_store, tmp_path):
    # an Amazon-style export: no review id; the same review twice in the file, and again in a later load
    cipher = PIICipher(b"v" * 32)
    text = ('reviewerID,asin,overall,reviewText,unixReviewTime\n'
            'A1,B1,5,"Lovely, smells great",1472688000\nA2,B1,2,meh,1472688000\nA1,B1,5,"Lovely, smells great",1472688000\n'
            'A1,B2,4,,\n')
    rev = _write(tmp_path / "amazon.csv", text)
    mapping = {"reviewerID": "customer_id", "asin": "product_id", "overall": "rating", "reviewText": "text",
               "unixReviewTime": "timestamp"}
    rep = ingest_file(any_store, "reviews", rev, mapping=mapping, cipher=cipher)
    assert (rep.read, rep.accepted, rep.duplicates, rep.rejected) == (4, 3, 1, 0)
    ids = any_store.read_frame("SELECT review_id FROM reviews")["review_id"].tolist()
    assert len(set(ids)) == 3 and all(i.startswith("h:") and len(i) == 34 for i in ids)
    again = ingest_file(any_store, "reviews", rev, mapping=mapping, cipher=cipher)
    assert (again.accepted, again.duplicates) == (0, 4) and any_store.count("reviews") == 3
    missing = _write(tmp_path / "no-product.csv", "customer_id,rating\nc1,5\n")
    with pytest.raises(SchemaError, match=r"missing required column\(s\) \['product_id'\]"):  # still required
        ingest_file(any_store, "reviews", missing, cipher=cipher)


def test_logs_carry_no_pii(store, tmp_path, caplog):
    import logging

    caplog.set_level(logging.DEBUG)
    cipher = PIICipher(b"l" * 32)
    ingest_file(store, "customers", _write(tmp_path / "c.csv", CRM), cipher=cipher)
    ingest_file(store, "events", _write(tmp_path / "e.csv", "customer_id,event_type,timestamp\nc9,view,2020-01-01\n"), cipher=cipher)
    text = caplog.text
    assert "ingest entity=customers" in text  # something was logged
    for pii in ("Ann.Lee@Example.com", "bob@example.org", "Ann Lee", "7946"):
        assert pii not in text
