"""Audit fixes: every format ``persona ingest`` reads is found by ``persona run --data`` (and files left out are
named), Title Case headers load, conflicting duplicates are counted, out-of-range numbers are refused, and columns a
table cannot keep are reported."""

from __future__ import annotations

import pandas as pd
import pytest

from persona.ingest import ingest_file
from persona.ingest.mapping import resolve_columns
from persona.ingest.readers import _SUFFIXES
from persona.ingest.schema import SPECS, range_reasons
from persona.ingest.writer import _upsert_conflicts
from persona.pipeline.stages.data import INGEST, SUFFIXES, scan_data_dir

CUSTOMERS = "customer_id,city\nc1,Oslo\nc2,Rome\n"
EVENTS = "event_id,customer_id,product_id,event_type,timestamp\nE1,c1,p1,view,2024-01-01\nE2,c2,p1,view,2024-01-02\n"


def _folder(tmp_path, files: dict[str, str]):
    data = tmp_path / "data"
    data.mkdir()
    for name, text in files.items():
        (data / name).write_text(text, encoding="utf-8")
    return data


# --- 1. discovery ---------------------------------------------------------------------------
def test_run_suffixes_are_the_ingest_readers():
    assert set(SUFFIXES) == set(_SUFFIXES)


def test_run_data_loads_tsv_json_and_upper_case_suffixes(ctx, tmp_path):
    ctx.data_dir = _folder(tmp_path, {
        "customers.csv": CUSTOMERS,
        "products.tsv": "product_id\tprice\np1\t9.5\n",
        "consents.json": '{"customer_id": "c1", "channel": "email", "purpose": "marketing", "granted": true}\n',
        "events.CSV": EVENTS,
    })
    res = INGEST.run(ctx)
    assert res.status == "ok", res.message
    assert {e: f["accepted"] for e, f in res.figures.items()} == {"customers": 2, "products": 1, "events": 2, "consents": 1}
    assert res.figures["events"]["file"] == "events.CSV"
    assert ctx.store.count("consents") == 1


def test_files_not_loaded_are_named(ctx, tmp_path):
    ctx.data_dir = _folder(tmp_path, {"customers.csv": CUSTOMERS, "events.xlsx": "x", "orders.csv": "a\n1\n",
                                      ".hidden.csv": "x"})
    found, skipped = scan_data_dir(ctx.data_dir)
    assert list(found) == ["customers"] and set(skipped) == {"events.xlsx", "orders.csv"}
    res = INGEST.run(ctx)
    assert res.status == "failed"
    assert "events.xlsx" in res.message and "orders.csv" in res.message and ".xlsx" in res.figures["not_loaded"]["events.xlsx"]
    assert "not loaded" in res.sections[0].html and "events.xlsx" in res.sections[0].html


# --- 4. headers -----------------------------------------------------------------------------
def test_title_case_and_dashed_headers_match_canonical_columns():
    cols = resolve_columns(SPECS["customers"], ["Customer Id", "Birth Year", "e-mail", "Loyalty Tier"], {})
    assert cols == {"Customer Id": "customer_id", "Birth Year": "birth_year", "e-mail": "email", "Loyalty Tier": "Loyalty Tier"}
    cols = resolve_columns(SPECS["events"], ["customer-id", "EventType", "Timestamp", "Session Id"], {})
    assert cols == {"customer-id": "customer_id", "EventType": "event_type", "Timestamp": "timestamp", "Session Id": "session_id"}
    # an exact canonical name wins over a second spelling, which stays an extra column
    assert resolve_columns(SPECS["customers"], ["customer_id", "Customer Id"], {})["Customer Id"] == "Customer Id"


def test_title_case_customers_file_loads(initialised_store, tmp_path):
    path = tmp_path / "customers.csv"
    path.write_text("Customer Id,Birth Year,City\nC1,1980,Oslo\n", encoding="utf-8")
    rep = ingest_file(initialised_store, "customers", path, progress=False)
    assert (rep.accepted, rep.rejected) == (1, 0)
    row = initialised_store.read_frame("SELECT customer_id, birth_year, city FROM customers").iloc[0]
    assert (row["customer_id"], int(row["birth_year"]), row["city"]) == ("C1", 1980, "Oslo")


def test_map_hint_is_shell_quoted():
    from persona.errors import SchemaError

    with pytest.raises(SchemaError) as ei:
        resolve_columns(SPECS["customers"], ["User Id", "city"], {})
    assert "--map 'User Id=customer_id'" in ei.value.hint


# --- 3. ranges ------------------------------------------------------------------------------
def test_range_reasons():
    ev = pd.DataFrame({"event_type": ["purchase", "refund", "purchase", "adjustment", "view"],
                       "quantity": [-3.0, -1.0, 1.0, -2.0, None], "revenue": [-50.0, -50.0, -50.0, -4.0, None]})
    assert range_reasons(SPECS["events"], ev).tolist() == [
        "quantity must not be negative on a purchase event: -3", None, "revenue must not be negative on a purchase event: -50",
        None, None]
    assert range_reasons(SPECS["products"], pd.DataFrame({"price": [-10.0, 0.0, 3.5]})).tolist() == [
        "price must not be negative: -10", None, None]
    assert range_reasons(SPECS["reviews"], pd.DataFrame({"rating": [7.0, -1.0, 0.0, 1.0, 5.0, None]})).tolist() == [
        "rating out of range 1-5: 7", "rating out of range 1-5: -1", "rating out of range 1-5: 0", None, None, None]


def test_out_of_range_rows_are_quarantined(initialised_store, tmp_path):
    products = tmp_path / "products.csv"
    products.write_text("product_id,price\np1,-10\np2,4.5\n", encoding="utf-8")
    rep = ingest_file(initialised_store, "products", products, progress=False)
    assert (rep.accepted, rep.rejected) == (1, 1)
    events = tmp_path / "events.csv"
    events.write_text("event_id,customer_id,product_id,event_type,timestamp,quantity,revenue\n"
                      "E1,c1,p2,purchase,2024-01-01,-3,-50\nE2,c1,p2,refund,2024-01-02,-1,-4.5\n"
                      "E3,c1,p2,purchase,2024-01-03,1,4.5\n", encoding="utf-8")
    rep = ingest_file(initialised_store, "events", events, progress=False)
    assert (rep.accepted, rep.rejected) == (2, 1)
    assert "quantity must not be negative on a purchase event" in open(rep.quarantine, encoding="utf-8").read()
    reviews = tmp_path / "reviews.csv"
    reviews.write_text("review_id,customer_id,product_id,rating\nR1,c1,p2,7\nR2,c1,p2,-1\nR3,c1,p2,0\nR4,c1,p2,4\n",
                       encoding="utf-8")
    rep = ingest_file(initialised_store, "reviews", reviews, progress=False)
    assert (rep.accepted, rep.rejected) == (1, 3)


# --- 2. conflicting duplicates --------------------------------------------------------------
def test_upsert_conflicts_count_rows_that_lose_with_different_content():
    ids = pd.Series(["C4", "C5", "C4", "C5"])
    assert _upsert_conflicts(ids, pd.Series(["h1", "h2", "h3", "h2"])) == 1  # C4 changed; C5 repeated exactly


def test_conflicting_duplicates_are_reported(initialised_store, tmp_path):
    customers = tmp_path / "customers.csv"
    customers.write_text("customer_id,city\nC4,Shenzhen\nC5,Rome\nC4,Paris\nC5,Rome\n", encoding="utf-8")
    rep = ingest_file(initialised_store, "customers", customers, progress=False)
    assert (rep.accepted, rep.duplicates, rep.conflicts) == (2, 2, 1)  # the last C4 wins
    assert initialised_store.read_frame("SELECT city FROM customers WHERE customer_id = 'C4'").iloc[0, 0] == "Paris"
    events = tmp_path / "events.csv"
    events.write_text("event_id,customer_id,event_type,timestamp,revenue\nE6,C4,view,2024-01-01,\nE7,C4,view,2024-01-01,\n"
                      "E6,C4,purchase,2024-01-01,999\nE7,C4,view,2024-01-01,\n", encoding="utf-8")
    rep = ingest_file(initialised_store, "events", events, progress=False)
    assert (rep.accepted, rep.duplicates, rep.rejected, rep.conflicts) == (2, 2, 0, 1)  # the first E6 is kept, counted
    assert rep.as_dict()["conflicts"] == 1


def test_run_stage_reports_conflicts(ctx, tmp_path):
    ctx.data_dir = _folder(tmp_path, {"customers.csv": "customer_id,city\nC4,Shenzhen\nC4,Paris\n", "events.csv": EVENTS})
    res = INGEST.run(ctx)
    assert res.figures["customers"]["conflicts"] == 1
    assert "customers: 1 duplicate id(s) with different content (the last row wins" in res.message


# --- 5. columns a table cannot keep ---------------------------------------------------------
def test_run_stage_reports_dropped_review_and_consent_columns(ctx, tmp_path):
    ctx.data_dir = _folder(tmp_path, {
        "customers.csv": CUSTOMERS, "events.csv": EVENTS,
        "reviews.csv": "review_id,customer_id,product_id,rating,internal_note\nR1,c1,p1,4,note-0\n",
        "consents.csv": "customer_id,channel,purpose,granted,Loyalty Tier\nc1,email,marketing,true,gold\n",
    })
    res = INGEST.run(ctx)
    assert res.status == "ok"
    assert res.figures["reviews"]["ignored_columns"] == ["internal_note"]
    assert res.figures["consents"]["ignored_columns"] == ["Loyalty Tier"]
    assert "reviews: column(s) internal_note not kept" in res.message and "consents: column(s) Loyalty Tier" in res.message
    assert "columns not kept" in res.sections[0].html
