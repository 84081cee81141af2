"""Adapters through the real ingest path (``persona ingest --adapter``) into a store: counts add up, duplicates
are caught, guests become stub customers and revenue survives intact."""

from __future__ import annotations

import pandas as pd
import pytest
from test_adapter_retail import LINES, _write


@pytest.fixture
def ws_store(settings):
    """A real workspace (key file, migrated SQLite database) and its store."""
    from persona.store import Store, init_workspace

    init_workspace(settings)
    s = Store(settings)
    yield s
    s.dispose()


def _ingest(store, name, path):
    from persona.cli.ingest import ingest_adapter

    return ingest_adapter(store, name, path)


def test_retail_fixture_into_store(ws_store, tmp_path):
    store = ws_store
    f = _write(tmp_path)
    res = _ingest(store, "retail", f)
    ev = res["entities"]["events"]
    assert ev["read"] == len(LINES) and ev["duplicates"] == 1 and ev["rejected"] == 0
    assert res["read"] == res["accepted"] + res["duplicates"] + res["rejected"]
    raw = pd.read_csv(f).drop_duplicates()
    rows = store.read_frame("SELECT event_type, revenue, customer_id FROM events")
    assert rows["revenue"].sum() == pytest.approx((raw["Quantity"] * raw["UnitPrice"]).sum())
    assert (rows["event_type"] == "refund").sum() == 2
    stubs = store.read_frame("SELECT customer_id FROM customers WHERE is_stub")
    assert {"guest:536366", "guest:536414", "guest:536415", "guest:A563185"} <= set(stubs["customer_id"])
    again = _ingest(store, "retail", f)  # re-ingesting adds nothing
    assert again["accepted"] == 0


def test_ml100k_into_store(ws_store):
    store = ws_store
    from shared_data import shared_data

    path = shared_data("ml-100k")
    res = _ingest(store, "movielens", path)
    assert res["entities"]["events"]["accepted"] == 100_000
    assert store.count("customers") == 943 and store.count("products") == 1682 and store.count("events") == 100_000
