"""The privacy report on real workspaces: plain-text PII found (and fixed by --map), k-anonymity, erasure
completeness, unreadable ciphertexts, and the ``persona privacy`` commands."""

from __future__ import annotations

import base64
import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from shop_fixtures import seed_shop
from typer.testing import CliRunner

from persona.cli.main import app
from persona.privacy.crypto import PIICipher
from persona.privacy.detect import no_pii, pii_kind, texts_with_pii
from persona.privacy.report import k_anonymity, privacy_report

runner = CliRunner()
ENV = {"PERSONA_WORKSPACE": "", "PERSONA_GLOBAL_HOLDOUT": "0"}


def _cli(ws: Path, *args: str):  # noqa: ANN202
    return runner.invoke(app, [*args, "--workspace", str(ws)], env=ENV)


def test_pii_in_extra_columns_is_flagged_at_ingest_and_in_the_report_and_map_fixes_it(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    assert _cli(ws, "init").exit_code == 0
    f = tmp_path / "c.csv"
    f.write_text("customer_id,mobile,backup_mail,gender,loyalty_tier\nc1,+49 170 1234567,a@b.de,female,gold\n"
                 "c2,0170-7654321,x@y.com,male,silver\nc3,(030) 555 1234,,female,gold\n", encoding="utf-8")
    r = _cli(ws, "ingest", "customers", str(f), "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["plaintext_pii"] == {"mobile": "phone", "backup_mail": "email"}
    r = _cli(ws, "ingest", "customers", str(f))
    assert "column 'mobile' looks like phone" in r.output and "--map mobile=phone" in r.output
    r = _cli(ws, "privacy", "report", "--json")
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    assert rep["plaintext_pii"]["customer_attributes"] == {"mobile": {"kind": "phone", "rows": 3},
                                                          "backup_mail": {"kind": "email", "rows": 2}}
    assert any("'mobile' holds phones in plain text" in x for x in rep["findings"])
    assert "+49" not in r.stdout and "a@b.de" not in r.stdout  # counts and names only, never values
    # the fix the report names: reload with --map, the values move into the encrypted columns
    r = _cli(ws, "ingest", "customers", str(f), "--map", "mobile=phone", "--map", "backup_mail=email", "--json")
    assert json.loads(r.stdout)["plaintext_pii"] == {}
    rep = json.loads(_cli(ws, "privacy", "report", "--json").stdout)
    assert rep["plaintext_pii"]["customer_attributes"] == {} and rep["pii_at_rest"]["phone"]["stored"] == 3
    assert not any("plain text" in x for x in rep["findings"])
    out = json.loads(_cli(ws, "privacy", "export", "c1", "--json").stdout)
    r = _cli(ws, "privacy", "export", "c1")
    assert r.exit_code == 0 and "held about c1" in r.stdout and "+49" not in r.stdout
    assert out["customer"]["phone"] == "+49 170 1234567" and out["customer"]["attributes"] == {"loyalty_tier": "gold"}


def test_erasure_is_checked_and_unreadable_ciphertexts_are_found(workspace_shop) -> None:  # noqa: ANN001
    store, settings = workspace_shop
    seed_shop(store, settings, 12)
    ws = settings.workspace
    r = _cli(ws, "privacy", "erase", "c00003")
    assert r.exit_code == 2 and "add --yes" in r.output
    r = _cli(ws, "privacy", "erase", "c00003", "--yes", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["removed"]["events"] == 1
    rep = privacy_report(store, settings)
    assert rep["erasure"] == {"erased": 1, "erase_requests_logged": 1, "rows_left": {}, "quarantine_files": {},
                             "complete": True, "old_row_versions": {}}  # SQLite overwrote the erased content at once
    assert rep["pii_at_rest"]["customers"] == 11 and rep["pii_at_rest"]["email"]["unreadable"] == 0
    # a late event of the erased customer, and an e-mail written with another key
    store.bulk_insert("events", [{"event_id": "late", "customer_id": "c00003", "product_id": "p1", "event_type": "view",
                                  "ts": datetime.now(UTC)}])
    other = PIICipher(base64.urlsafe_b64decode(base64.urlsafe_b64encode(os.urandom(32))))
    with store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE customers SET email_enc = ? WHERE customer_id = 'c00005'", (other.encrypt("x@y.z"),))
    rep = privacy_report(store, settings)
    assert rep["erasure"]["complete"] is False and rep["erasure"]["rows_left"] == {"events": 1}
    assert rep["pii_at_rest"]["email"]["unreadable"] == 1
    assert any("erased customers still have rows in: events (1): run `persona privacy erase --all-erased --yes`" in x
               for x in rep["findings"])
    assert any("do not open with this workspace's key" in x for x in rep["findings"])
    assert rep["consent"]["marketing"]["email"] == 11 and rep["consent"]["customers_without_any_record"] == 0
    # personal data in an event's context and in a review's text
    store.bulk_insert("events", [{"event_id": f"ctx{i}", "customer_id": "c00001", "product_id": "p2", "event_type": "view",
                                  "ts": datetime.now(UTC), "context": {"referrer_mail": f"friend{i}@example.org", "page": "home"}}
                                 for i in range(3)])
    store.bulk_insert("reviews", [{"review_id": "r1", "customer_id": "c00001", "product_id": "p2", "rating": 5.0,
                                   "text": "Great, mail me at joe@example.org", "ts": datetime.now(UTC)}])
    rep = privacy_report(store, settings)
    assert rep["plaintext_pii"]["event_context"] == {"referrer_mail": {"kind": "email", "rows": 3}}
    assert rep["plaintext_pii"]["review_texts"] == {**no_pii(), "email": 1, "phone": 0, "card": 0, "iban": 0, "scanned": 1}
    assert any("event context field 'referrer_mail'" in x for x in rep["findings"])
    r = _cli(ws, "privacy", "export", "c00003")
    assert r.exit_code == 3 and "no customer 'c00003'" in r.output
    r = _cli(ws, "privacy", "report", "--k", "1")
    assert r.exit_code == 2 and "k must be an integer of at least 2" in r.output
    r = _cli(ws, "privacy", "erase", "nobody", "--yes")
    assert r.exit_code == 3 and "no customer 'nobody'" in r.output
    r = _cli(ws, "privacy", "erase", "c00003", "--yes")  # again: the late event goes, the first erasure's time stays
    assert r.exit_code == 0 and "c00003 was erased on" in r.output and "finished now: events 1" in r.output, r.output
    assert privacy_report(store, settings)["erasure"]["complete"] is True
    r = _cli(ws, "privacy", "erase", "c00003", "--yes")  # and again: nothing left, said so
    assert r.exit_code == 0 and "nothing left to erase" in r.output, r.output


def test_commands_on_a_folder_that_is_no_workspace(tmp_path: Path) -> None:
    for args in (("privacy", "report"), ("privacy", "export", "c1"), ("privacy", "erase", "c1", "--yes"), ("fairness",)):
        r = _cli(tmp_path / "nowhere", *args)
        assert r.exit_code == 2 and "no Persona workspace" in r.output, args
        assert not (tmp_path / "nowhere").exists()  # nothing created by a mistake


def test_k_anonymity_and_detectors() -> None:
    frame = pd.DataFrame({"gender": ["f", "f", "f", "m", "m", None], "city": ["A", "A", "B", "A", "A", "A"]})
    r = k_anonymity(frame, ["gender", "city"], 2)
    assert (r["below_k"], r["unique"], r["smallest_class"], r["share_below_k"]) == (2, 2, 1, pytest.approx(2 / 6, abs=1e-4))
    assert k_anonymity(frame, ["gender"], 3)["below_k"] == 3  # m (2) and the missing gender, a class of its own (1)
    assert k_anonymity(frame, ["zip"], 2)["columns"] == []
    assert pii_kind(pd.Series(["+44 20 7946 0958", "020 7946 0959", None])) == "phone"
    assert pii_kind(pd.Series(["a@b.co", "nope", "c@d.org"])) == "email"
    assert pii_kind(pd.Series(["gold", "silver"])) is None and pii_kind(pd.Series(["12345", "67890"])) is None
    assert pii_kind(pd.Series(["2026-11-20 12:00:00"])) is None  # timestamps are not phone numbers
    assert texts_with_pii(pd.Series(["write me at joe@mail.com", "call +1 415 555 0100", "great product", None])) == {**no_pii(), "email": 1, "phone": 1, "card": 0, "iban": 0}


def test_card_numbers_and_ibans_in_attributes_contexts_and_texts_are_reported_by_count_and_name(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    assert _cli(ws, "init").exit_code == 0
    f = tmp_path / "c.csv"
    f.write_text("customer_id,card_number,payout_iban,barcode,gender\n"
                 "c1,4111 1111 1111 1111,GB82 WEST 1234 5698 7654 32,4006381333931,female\n"
                 "c2,5555-5555-5555-4444,DE89370400440532013000,5901234123457,male\n"
                 "c3,378282246310005,,4012345678901,female\n", encoding="utf-8")
    r = _cli(ws, "ingest", "customers", str(f), "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["plaintext_pii"] == {"card_number": "card", "payout_iban": "iban"}  # EANs are not cards
    r = _cli(ws, "ingest", "customers", str(f))
    text = " ".join(r.output.split())
    assert "column 'card_number' looks like card" in text and "drop the column from the file and reload it" in text

    from persona.config import load_settings
    from persona.store import open_store

    settings = load_settings(ws, progress=False)
    store = open_store(settings)
    try:
        store.bulk_insert("events", [{"event_id": f"e{i}", "customer_id": "c1", "product_id": "p1", "event_type": "purchase",
                                      "ts": datetime.now(UTC), "context": {"refund_to": "NL91 ABNA 0417 1643 00", "page": "checkout"}}
                                     for i in range(3)])
        store.bulk_insert("reviews", [
            {"review_id": "r1", "customer_id": "c1", "product_id": "p1", "rating": 1.0, "text": "charged twice on 4111 1111 1111 1111",
             "ts": datetime.now(UTC)},
            {"review_id": "r2", "customer_id": "c2", "product_id": "p1", "rating": 2.0, "text": "我的卡号6222 0212 3456 7890 128",
             "ts": datetime.now(UTC)},
            {"review_id": "r3", "customer_id": "c3", "product_id": "p1", "rating": 3.0, "text": "refund to FR1420041010050500013M02606",
             "ts": datetime.now(UTC)},
            {"review_id": "r4", "customer_id": "c3", "product_id": "p1", "rating": 5.0, "text": "EAN 4006381333931, masked **** 1234",
             "ts": datetime.now(UTC)},
        ])
    finally:
        store.dispose()
    r = _cli(ws, "privacy", "report", "--json")
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    pii = rep["plaintext_pii"]
    assert pii["customer_attributes"] == {"card_number": {"kind": "card", "rows": 3}, "payout_iban": {"kind": "iban", "rows": 2}}
    assert pii["event_context"] == {"refund_to": {"kind": "iban", "rows": 3}}
    assert pii["review_texts"] == {**no_pii(), "email": 0, "phone": 0, "card": 2, "iban": 1, "scanned": 4}
    assert "persona privacy redact-reviews --yes" in pii["fixes"]
    assert "persona ingest customers FILE without the 'card_number' column" in pii["fixes"]
    assert any("'card_number' holds card numbers in plain text (3 customers)" in x for x in rep["findings"])
    assert any("event context field 'refund_to' holds IBANs" in x for x in rep["findings"])
    assert any("review texts hold e-mail addresses (0), phone numbers (0), card numbers (2), IBANs (1)" in x for x in rep["findings"])
    for value in ("4111", "5555", "3782", "GB82", "DE89", "NL91", "6222", "FR14"):
        assert value not in r.stdout  # counts and names only, never values
    # the fix the report names: the file without the column; redact-reviews for the texts
    f.write_text("customer_id,barcode,gender\nc1,4006381333931,female\nc2,5901234123457,male\nc3,4012345678901,female\n",
                 encoding="utf-8")
    assert json.loads(_cli(ws, "ingest", "customers", str(f), "--json").stdout)["plaintext_pii"] == {}
    assert _cli(ws, "privacy", "redact-reviews", "--yes").exit_code == 0
    rep = json.loads(_cli(ws, "privacy", "report", "--json").stdout)
    assert rep["plaintext_pii"]["customer_attributes"] == {}
    assert rep["plaintext_pii"]["review_texts"] == {**no_pii(), "scanned": 4}


@pytest.mark.parametrize("left", [{"row_hash": "f" * 16}, {"country": "DE"}, {"email_hash": "e" * 64},
                                  {"attributes": {"tier": "gold"}}, {"created_at": datetime(2025, 1, 1, tzinfo=UTC)}])
def test_the_erasure_check_covers_every_column_erasure_blanks(any_store, left) -> None:  # noqa: ANN001
    from shop_fixtures import seed_shop
    from sqlalchemy import update

    from persona.privacy.crypto import create_key_file
    from persona.privacy.gdpr import erase_customer
    from persona.store.models import TABLES

    settings = any_store.settings
    create_key_file(settings.key_path)
    seed_shop(any_store, settings, 4)
    erase_customer(any_store, settings, "c00001")
    assert privacy_report(any_store, settings)["erasure"]["rows_left"] == {}  # the JSON null erasure writes holds nothing
    customers = TABLES["customers"]
    with any_store.engine.begin() as conn:  # a tombstone that kept one of the values erasure blanks
        conn.execute(update(customers).where(customers.c.customer_id == "c00001").values(**left))
    rep = privacy_report(any_store, settings)
    assert rep["erasure"]["rows_left"] == {"customers (PII)": 1} and rep["erasure"]["complete"] is False
