"""Erasure against the one list of where personal data lives: a customer with a row in every table keyed by
``customer_id`` and a tombstone with every column filled comes out with only what ``persona.privacy.scope`` keeps."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from persona.ingest import ingest_file
from persona.jsonvalues import utc_iso
from persona.privacy.gdpr import erase_customer, finish_erasures
from persona.privacy.report import privacy_report
from persona.privacy.scope import ERASED_CUSTOMER_COLUMNS, ERASED_TABLES, KEPT_CUSTOMER_COLUMNS

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def _everywhere(store, cid: str) -> None:  # noqa: ANN001
    """One row of ``cid`` in every table keyed by customer_id (besides customers and consents, loaded from files)."""
    store.bulk_insert("events", [{"event_id": f"e-{cid}", "customer_id": cid, "product_id": "p1", "event_type": "view",
                                  "ts": T0, "context": {"page": "home"}}])
    store.bulk_insert("reviews", [{"review_id": f"r-{cid}", "customer_id": cid, "product_id": "p1", "rating": 4.0,
                                   "text": "fine", "ts": T0}])
    store.bulk_insert("profiles", [{"customer_id": cid, "features": {"orders": 1}, "updated_at": T0}])
    store.bulk_insert("segment_memberships", [{"customer_id": cid, "method": "rfm", "segment_id": "champions"}])
    store.bulk_insert("predictions", [{"customer_id": cid, "name": "churn_probability", "value": 0.5, "updated_at": T0}])
    store.bulk_insert("experiments", [{"name": "subject", "salt": "s", "variants": {"a": 0.5, "b": 0.5}, "holdout": 0.0,
                                       "status": "running", "created_at": T0}])
    store.bulk_insert("assignments", [{"experiment": "subject", "customer_id": cid, "variant": "a", "exposed_at": T0}])
    store.bulk_insert("campaigns", [{"name": "spring", "spec": {"name": "spring"}, "status": "active", "created_at": T0,
                                     "updated_at": T0}])
    store.bulk_insert("campaign_runs", [{"campaign": "spring", "run_key": "spring:1", "planned_at": T0, "status": "done"}])
    run_id = int(store.read_frame("SELECT id FROM campaign_runs")["id"].iloc[0])
    store.bulk_insert("messages", [{"message_id": f"m-{cid}", "run_id": run_id, "campaign": "spring", "customer_id": cid,
                                    "channel": "email", "status": "sent", "attempts": 1, "created_at": T0, "sent_at": T0}])


def _load_customers(store, folder: Path) -> None:  # noqa: ANN001
    """Customers and consents through ingest, as a shop loads them: the rows get their keyed source-row hash."""
    folder.mkdir()
    pd.DataFrame({"customer_id": ["c1", "c2"], "email": ["ann@example.com", "bob@example.com"],
                  "phone": ["+49 170 1234567", "+49 170 7654321"], "name": ["Ann A", "Bob B"], "gender": ["f", "m"],
                  "birth_year": [1980, 1990], "city": ["Oslo", "Rome"], "country": ["NO", "IT"], "timezone": ["UTC"] * 2,
                  "language": ["en"] * 2, "created_at": ["2025-01-01"] * 2, "loyalty_tier": ["gold", "silver"]},
                 ).to_csv(folder / "customers.csv", index=False)
    pd.DataFrame({"customer_id": ["c1", "c2"], "channel": ["email"] * 2, "purpose": ["marketing"] * 2,
                  "granted": [True, True], "timestamp": ["2026-01-01"] * 2}).to_csv(folder / "consents.csv", index=False)
    ingest_file(store, "customers", folder / "customers.csv")
    ingest_file(store, "consents", folder / "consents.csv")


def test_erasure_empties_every_listed_table_and_blanks_every_listed_column(workspace_shop, tmp_path) -> None:  # noqa: ANN001
    store, settings = workspace_shop
    _load_customers(store, tmp_path / "shop")
    _everywhere(store, "c2")
    before = store.read_frame("SELECT * FROM customers WHERE customer_id = 'c2'").iloc[0]
    assert before[list(ERASED_CUSTOMER_COLUMNS)].notna().all(), "the fixture must fill every column erasure blanks"

    out = erase_customer(store, settings, "c2")
    assert out["removed"] == {**dict.fromkeys(ERASED_TABLES, 1), "consents_kept": 1}
    assert (out["again"], out["changed"], out["cleared"]) == (False, True, list(ERASED_CUSTOMER_COLUMNS))
    for table in ERASED_TABLES:
        assert store.read_frame(f"SELECT COUNT(*) AS n FROM {table} WHERE customer_id = 'c2'")["n"].iloc[0] == 0, table  # noqa: S608
    tomb = store.read_frame("SELECT * FROM customers WHERE customer_id = 'c2'").iloc[0]
    held = {c: tomb[c] for c in ERASED_CUSTOMER_COLUMNS if tomb[c] is not None and tomb[c] == tomb[c] and tomb[c] != "null"}
    assert held == {}, f"the tombstone still holds {sorted(held)}"  # the keyed row hash and created_at went too
    assert {c for c in KEPT_CUSTOMER_COLUMNS if tomb[c] is not None} == set(KEPT_CUSTOMER_COLUMNS)
    assert tomb["customer_key"] == before["customer_key"]
    # the other customer is untouched, and the report finds nothing left
    other = store.read_frame("SELECT row_hash, created_at, city FROM customers WHERE customer_id = 'c1'").iloc[0]
    assert other.notna().all()
    assert privacy_report(store, settings)["erasure"]["rows_left"] == {}


def _as_an_older_version_left_it(store, cid: str) -> None:  # noqa: ANN001
    """The tombstone an erasure of an older version left (row hash and created_at kept), and a profile a full rebuild
    of that version wrote back."""
    from sqlalchemy import update

    from persona.store.models import TABLES

    customers = TABLES["customers"]
    with store.engine.begin() as conn:
        conn.execute(update(customers).where(customers.c.customer_id == cid)
                     .values(row_hash="f" * 16, created_at=datetime(2025, 1, 1, tzinfo=UTC)))
    store.bulk_insert("profiles", [{"customer_id": cid, "features": {"orders": 0}, "updated_at": T0}])


def test_erasing_again_finishes_a_tombstone_and_keeps_the_first_erasure_time(any_store) -> None:  # noqa: ANN001
    from shop_fixtures import seed_shop

    from persona.privacy.crypto import create_key_file

    settings = any_store.settings
    create_key_file(settings.key_path)
    seed_shop(any_store, settings, 4)
    first = erase_customer(any_store, settings, "c00001")
    _as_an_older_version_left_it(any_store, "c00001")
    rep = privacy_report(any_store, settings)
    assert rep["erasure"]["rows_left"] == {"profiles": 1, "customers (PII)": 1}
    assert any("erased customers still have rows in: profiles (1), customers (PII) (1): run "
               "`persona privacy erase --all-erased --yes` to finish their erasure" in f for f in rep["findings"])

    again = erase_customer(any_store, settings, "c00001")
    assert (again["again"], again["changed"], again["cleared"]) == (True, True, ["created_at", "row_hash"])
    assert again["removed"] == {**dict.fromkeys(ERASED_TABLES, 0), "profiles": 1, "consents_kept": 1}
    assert again["erased_at"] == first["erased_at"]
    stored = any_store.read_frame("SELECT erased_at FROM customers WHERE customer_id = 'c00001'")["erased_at"].iloc[0]
    assert utc_iso(stored) == first["erased_at"]  # the first erasure's time is kept
    assert privacy_report(any_store, settings)["erasure"]["complete"] is True

    third = erase_customer(any_store, settings, "c00001")  # nothing left: said so, audited apart
    assert (third["again"], third["changed"], third["cleared"], third["quarantine"]["rows"]) == (True, False, [], 0)
    audit = any_store.read_frame("SELECT action, subject, details FROM audit_log ORDER BY id")
    assert audit["action"].tolist() == ["erase", "erase", "erase_checked"]
    assert audit["subject"].nunique() == 1 and "c00001" not in "".join(audit["subject"])
    details = [json.loads(d) if isinstance(d, str) else d for d in audit["details"]]
    assert "again" not in details[0] and details[1]["again"] is True and details[1]["cleared"] == ["created_at", "row_hash"]
    assert details[1]["profiles"] == 1 and details[1]["first_erased_at"] == first["erased_at"]
    assert privacy_report(any_store, settings)["erasure"]["erase_requests_logged"] == 2

    _as_an_older_version_left_it(any_store, "c00001")  # every tombstone at once: counted first, then finished
    plan = finish_erasures(any_store, settings, apply=False)
    assert {k: plan[k] for k in ("tombstones", "finished", "removed", "cleared", "applied")} == {
        "tombstones": 1, "finished": 1, "removed": {"profiles": 1}, "cleared": {"created_at": 1, "row_hash": 1}, "applied": False}
    assert privacy_report(any_store, settings)["erasure"]["complete"] is False
    assert finish_erasures(any_store, settings)["finished"] == 1
    assert privacy_report(any_store, settings)["erasure"]["complete"] is True
    assert finish_erasures(any_store, settings)["finished"] == 0


def test_all_erased_finishes_every_tombstone_at_once(workspace_shop) -> None:  # noqa: ANN001
    from shop_fixtures import seed_shop
    from typer.testing import CliRunner

    from persona.cli.main import app

    store, settings = workspace_shop
    seed_shop(store, settings, 6)
    for cid in ("c00001", "c00002", "c00004"):
        erase_customer(store, settings, cid)
    for cid in ("c00001", "c00004"):
        _as_an_older_version_left_it(store, cid)

    def cli(*args: str):  # noqa: ANN202
        return CliRunner().invoke(app, ["privacy", "erase", *args, "--workspace", str(settings.workspace)],
                                  env={"PERSONA_WORKSPACE": ""})

    r = cli("--all-erased", "--json")  # without --yes: what it would change, nothing changed
    assert r.exit_code == 2 and "add --yes" in " ".join(r.output.split())
    plan = json.loads(r.stdout)
    assert (plan["tombstones"], plan["finished"], plan["applied"]) == (3, 2, False)
    assert plan["removed"] == {"profiles": 2} and plan["cleared"] == {"created_at": 2, "row_hash": 2}
    assert privacy_report(store, settings)["erasure"]["rows_left"] == {"profiles": 2, "customers (PII)": 2}
    r = cli("--all-erased", "--yes")
    assert r.exit_code == 0, r.output
    assert "finished the erasure of 2 of 3 erased customers: profiles 2; tombstone column(s) created_at (2), row_hash (2)" \
        in " ".join(r.output.split())
    assert privacy_report(store, settings)["erasure"]["complete"] is True
    assert "c0000" not in r.output  # counts only: no id of an erased person is printed
    r = cli("--all-erased", "--yes")
    assert r.exit_code == 0 and "nothing left to erase of the 3 erased customers" in " ".join(r.output.split())
    actions = store.read_frame("SELECT action, subject FROM audit_log ORDER BY id")
    assert actions["action"].tolist() == ["erase"] * 5 + ["erase_checked"]
    assert actions["subject"].iloc[-1] is None  # the check of all tombstones names nobody
    for args in ((), ("c00001", "--all-erased")):
        r = cli(*args, "--yes")
        assert r.exit_code == 2 and "give either a customer id or --all-erased" in " ".join(r.output.split())
    r = cli("nobody", "--yes")
    assert r.exit_code == 3 and "no customer 'nobody'" in " ".join(r.output.split())
