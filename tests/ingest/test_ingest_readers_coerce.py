"""Reader and coercer edge cases: fields over the field limit, encodings other than UTF-8, decimal commas.

Each case keeps every line accounted for (read == accepted + duplicates + rejected), quarantines what cannot be read
with a true reason, and never stores a replaced character.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest

from persona.ingest import ingest_file
from persona.ingest.coerce import ChunkCoercer
from persona.ingest.readers import MAX_FIELD, open_reader
from persona.ingest.schema import SPECS
from persona.privacy.crypto import PIICipher

CIPHER = PIICipher(b"t" * 32)
PRODUCTS = "product_id,title,description,price\n"


def _q(report) -> list[dict]:
    with open(report.quarantine, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _counts(rep) -> tuple[int, int, int, int]:
    assert rep.read == rep.accepted + rep.duplicates + rep.rejected
    return rep.read, rep.accepted, rep.duplicates, rep.rejected


def _notes(path: Path) -> list[str]:
    return [n for chunk in open_reader(path, "csv", 1000) for n in chunk.notes]


# --- 1. a field over the field limit ---------------------------------------------------------------------------------

@pytest.mark.parametrize("quoted_rows", [True, False], ids=["csv-module-path", "quote-free-path"])
def test_a_field_over_the_limit_quarantines_its_row_and_the_rest_loads(store, tmp_path, quoted_rows):
    rows = []
    for i in range(60):
        desc = '"soft, warm"' if quoted_rows and i % 7 == 0 else f"plain {i}"
        if i == 2:
            desc = "x" * (MAX_FIELD + 10)  # unquoted: no quote is broken anywhere
        rows.append(f"p{i},Title {i},{desc},{i}.5\n")
    f = tmp_path / "products.csv"
    f.write_text(PRODUCTS + "".join(rows), encoding="utf-8")
    rep = ingest_file(store, "products", f, cipher=CIPHER, chunk_size=20)
    assert _counts(rep) == (60, 59, 0, 1)
    (bad,) = _q(rep)
    assert bad["line"] == "4"
    assert f"longer than {MAX_FIELD:,} characters" in bad["reason"] and "quot" not in bad["reason"]
    assert store.count("products") == 59


def test_an_unclosed_quote_past_the_limit_sets_aside_its_line_and_reading_goes_on(store, tmp_path):
    filler = "y" * 200
    rows = [f"p{i},Title {i},{filler},{i}\n" for i in range(7000)]  # > 1 MiB after the stray quote
    rows[3] = 'p3,Title 3,"stray quote,3\n'
    f = tmp_path / "products.csv"
    f.write_text(PRODUCTS + "".join(rows), encoding="utf-8")
    rep = ingest_file(store, "products", f, cipher=CIPHER, chunk_size=500)
    assert _counts(rep) == (7000, 6999, 0, 1)
    (bad,) = _q(rep)
    assert bad["line"] == "5" and "broken quoting" in bad["reason"] and "goes on from line 6" in bad["reason"]
    assert store.count("products") == 6999


# --- 2. encodings ----------------------------------------------------------------------------------------------------

def test_gbk_file_is_read_as_chinese_and_says_so(store, tmp_path):
    rows = "".join(f"p{i},Hearthwell便携搅拌碗套装{i},让每一天都更轻松。下单前请查看尺码指南。,{i}.99\n" for i in range(50))
    f = tmp_path / "products.csv"
    f.write_bytes((PRODUCTS + rows).encode("gbk"))
    rep = ingest_file(store, "products", f, cipher=CIPHER)
    assert _counts(rep) == (50, 50, 0, 0)
    got = store.read_frame("SELECT product_id, title, description FROM products ORDER BY product_id")
    assert got.loc[got.product_id == "p0", "title"].item() == "Hearthwell便携搅拌碗套装0"
    assert got.loc[got.product_id == "p1", "description"].item() == "让每一天都更轻松。下单前请查看尺码指南。"
    (note,) = _notes(f)
    assert "not UTF-8" in note and "GB18030" in note


def test_windows_1252_row_after_the_first_64kb_is_decoded(store, tmp_path):
    head = "customer_id,city\n" + "".join(f"c{i},Springfield\n" for i in range(6000))  # ~92 KB of ASCII
    f = tmp_path / "customers.csv"
    f.write_bytes(head.encode("ascii") + "c_koeln,Köln\n".encode("cp1252"))
    assert f.stat().st_size > 1 << 16
    rep = ingest_file(store, "customers", f, cipher=CIPHER)
    assert _counts(rep) == (6001, 6001, 0, 0)
    cities = store.read_frame("SELECT city FROM customers WHERE customer_id = 'c_koeln'")["city"].tolist()
    assert cities == ["Köln"]
    (note,) = _notes(f)
    assert "Windows-1252" in note


def test_a_windows_1252_row_in_a_utf8_file_is_quarantined_not_replaced(store, tmp_path):
    f = tmp_path / "customers.csv"
    f.write_bytes(("customer_id,city\n" + "".join(f"c{i},Zürich\n" for i in range(30))).encode("utf-8")
                  + "c_bad,Köln\n".encode("cp1252") + "c_last,Genève\n".encode())
    rep = ingest_file(store, "customers", f, cipher=CIPHER)
    assert _counts(rep) == (32, 31, 0, 1)
    (bad,) = _q(rep)
    assert bad["line"] == "32" and "0xF6" in bad["reason"] and "UTF-8" in bad["reason"]
    assert bad["raw"] == "c_bad,K\\xf6ln"  # the byte shown, not replaced
    cities = store.read_frame("SELECT city FROM customers")["city"].tolist()
    assert "\ufffd" not in "".join(cities) and cities.count("Zürich") == 30 and "Genève" in cities
    (note,) = _notes(f)
    assert "not all valid UTF-8" in note


def test_bytes_windows_1252_cannot_decode_are_quarantined(store, tmp_path):
    f = tmp_path / "customers.csv"
    f.write_bytes("customer_id,city\nc1,Zürich\nc2,Köln\n".encode("cp1252") + b"c3,Bad\x81Byte\n")
    rep = ingest_file(store, "customers", f, cipher=CIPHER)
    assert _counts(rep) == (3, 2, 0, 1)
    (bad,) = _q(rep)
    assert bad["line"] == "4" and "0x81" in bad["reason"] and "Windows-1252" in bad["reason"]
    assert sorted(store.read_frame("SELECT city FROM customers")["city"]) == ["Köln", "Zürich"]


def test_jsonl_line_with_undecodable_bytes_is_quarantined(store, tmp_path):
    f = tmp_path / "ev.jsonl"
    f.write_bytes('{"customer_id": "c1", "event_type": "view", "timestamp": "2020-01-01", "city": "Zürich"}\n'.encode()
                  + b'{"customer_id": "c2", "event_type": "view", "timestamp": "2020-01-01", "city": "K\xf6ln"}\n'
                  + '{"customer_id": "c3", "event_type": "view", "timestamp": "2020-01-01", "city": "Genève"}\n'.encode())
    rep = ingest_file(store, "events", f, cipher=CIPHER)
    assert _counts(rep) == (3, 2, 0, 1)
    (bad,) = _q(rep)
    assert bad["line"] == "2" and "0xF6" in bad["reason"]


# --- 3. decimal commas -----------------------------------------------------------------------------------------------

def test_semicolon_file_reads_decimal_commas(store, tmp_path):
    f = tmp_path / "products.csv"
    f.write_text("product_id;title;price\np1;Mug;32,99\np2;Pan;1.234,56\np3;Bowl;7\np4;Set;1.250\np5;Cup;0.5\n",
                 encoding="utf-8")
    rep = ingest_file(store, "products", f, cipher=CIPHER)
    assert _counts(rep) == (5, 4, 0, 1)
    prices = dict(store.read_frame("SELECT product_id, price FROM products").itertuples(index=False))
    assert prices == {"p1": 32.99, "p2": 1234.56, "p3": 7.0, "p5": 0.5}
    (bad,) = _q(rep)  # decimal commas and a decimal point in one column: 1.250 could be either
    assert bad["line"] == "5" and "ambiguous" in bad["reason"] and "1250" in bad["reason"] and "1,250" in bad["reason"]
    assert any("decimal comma" in n for n in _notes(f))


def test_semicolon_thousands_group_read_by_the_column(store, tmp_path):
    f = tmp_path / "products.csv"
    f.write_text("product_id;price\np1;1.250\np2;2,5\np3;1.234.567\n", encoding="utf-8")
    rep = ingest_file(store, "products", f, cipher=CIPHER)
    assert _counts(rep) == (3, 3, 0, 0)
    prices = dict(store.read_frame("SELECT product_id, price FROM products").itertuples(index=False))
    assert prices == {"p1": 1250.0, "p2": 2.5, "p3": 1234567.0}


def test_comma_separated_file_never_reads_decimal_commas(store, tmp_path):
    f = tmp_path / "products.csv"
    f.write_text('product_id,price\np1,"32,99"\np2,1.250\n', encoding="utf-8")
    rep = ingest_file(store, "products", f, cipher=CIPHER)
    assert _counts(rep) == (2, 1, 0, 1)
    assert _q(rep)[0]["reason"] == "price is not a number: '32,99'"
    assert store.read_frame("SELECT price FROM products")["price"].tolist() == [1.25]


def test_coercer_decimal_comma_only_on_request():
    spec = SPECS["events"]
    frame = pd.DataFrame({"customer_id": ["c1", "c2"], "event_type": ["purchase"] * 2,
                          "timestamp": ["2020-01-01"] * 2, "revenue": ["32,99", "1.234,5"]}, dtype=object)
    plain = ChunkCoercer(spec, {}).coerce(frame)
    assert plain.reasons.notna().all()
    frame.attrs["decimal"] = ","
    comma = ChunkCoercer(spec, {}).coerce(frame)
    assert comma.reasons.isna().all() and comma.frame["revenue"].tolist() == [32.99, 1234.5]
