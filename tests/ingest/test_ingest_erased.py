"""Erasure holds against reloads: no row of an erased customer (profile, events, reviews) comes back when the same
files are ingested again, or a changed row arrives later; the rows left out are counted. Consent history is kept
through erasure (evidence), so a reloaded consent is a duplicate as any other."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from persona.ingest import ingest_file
from persona.privacy.gdpr import erase_customer


def _files(folder: Path) -> dict[str, Path]:
    folder.mkdir()
    frames = {
        "customers": pd.DataFrame({"customer_id": ["c1", "c2"], "email": ["ann@example.com", "bob@example.com"],
                                   "city": ["Oslo", "Rome"]}),
        "events": pd.DataFrame({"customer_id": ["c1", "c2", "c2"], "product_id": ["p1", "p1", "p2"],
                                "event_type": ["view", "purchase", "view"], "timestamp": ["2026-01-01"] * 3}),
        "reviews": pd.DataFrame({"customer_id": ["c1", "c2"], "product_id": ["p1", "p1"], "rating": [5, 2],
                                 "text": ["great", "call me on 0170 1234567"], "timestamp": ["2026-01-02"] * 2}),
        "consents": pd.DataFrame({"customer_id": ["c1", "c2"], "channel": ["email"] * 2, "purpose": ["marketing"] * 2,
                                  "granted": [True, True], "timestamp": ["2026-01-01"] * 2}),
    }
    paths = {}
    for name, frame in frames.items():
        paths[name] = folder / f"{name}.csv"
        frame.to_csv(paths[name], index=False)
    return paths


def _rows_of(store, cid: str) -> dict[str, int]:
    return {t: int(store.read_frame(f"SELECT COUNT(*) AS n FROM {t} WHERE customer_id = :c", {"c": cid})["n"].iloc[0])
            for t in ("events", "reviews", "consents")}


def test_reloading_every_file_brings_nothing_of_an_erased_customer_back(workspace_shop, tmp_path):
    store, settings = workspace_shop
    files = _files(tmp_path / "shop")
    for entity, path in files.items():
        ingest_file(store, entity, path)
    assert _rows_of(store, "c2") == {"events": 2, "reviews": 1, "consents": 1}
    erase_customer(store, settings, "c2")
    assert _rows_of(store, "c2") == {"events": 0, "reviews": 0, "consents": 1}

    reports = {entity: ingest_file(store, entity, path) for entity, path in files.items()}
    assert {e: r.erased for e, r in reports.items()} == {"customers": 1, "events": 2, "reviews": 1, "consents": 0}
    for r in reports.values():
        assert r.read == r.accepted + r.duplicates + r.rejected and r.accepted == 0
    assert _rows_of(store, "c2") == {"events": 0, "reviews": 0, "consents": 1}
    tomb = store.read_frame("SELECT email_enc, city, erased_at FROM customers WHERE customer_id = 'c2'").iloc[0]
    assert tomb["email_enc"] is None and tomb["city"] is None and tomb["erased_at"] is not None

    changed = tmp_path / "changed.csv"  # a later CRM export with a new address for the erased person
    pd.DataFrame({"customer_id": ["c2", "c1"], "email": ["bob@new.example.com", "ann@example.com"],
                  "city": ["Paris", "Oslo"]}).to_csv(changed, index=False)
    rep = ingest_file(store, "customers", changed)
    assert rep.erased == 1 and store.read_frame("SELECT city FROM customers WHERE customer_id = 'c2'")["city"].isna().all()
    assert _rows_of(store, "c1") == {"events": 1, "reviews": 1, "consents": 1}  # the others load as before
