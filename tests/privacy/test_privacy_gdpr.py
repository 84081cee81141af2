"""Erasure against the one list of where personal data lives: a customer with a row in every table keyed by
``customer_id`` and a tombstone with every column filled comes out with only what ``persona.privacy.scope`` keeps."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from persona.ingest import ingest_file
from persona.privacy.gdpr import erase_customer
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

    counts = erase_customer(store, settings, "c2")
    assert counts == {**dict.fromkeys(ERASED_TABLES, 1), "consents_kept": 1}
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
