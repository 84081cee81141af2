"""REES46 shop events: event types, revenue on purchases, category paths and brands."""

from __future__ import annotations

import pandas as pd
import pytest
from shared_data import shared_data

from persona.errors import SchemaError
from persona.ingest.adapters import get_adapter

HEADER = "event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session\n"


def _read(path, **kw):
    return {k: pd.concat(list(v), ignore_index=True) for k, v in get_adapter("rees46").read(path, **kw).items()}


def test_shared_sample_counts():
    path = shared_data("rees46-sample", "2019-Oct-sample.csv")
    out = _read(path, chunk_size=300)
    raw = pd.read_csv(path)
    ev, items = out["events"], out["products"]
    assert len(ev) == 1000 and ev["timestamp"].notna().all()
    assert ev["event_id"].nunique() == len(raw.drop_duplicates())
    assert len(items) == raw["product_id"].nunique()
    assert (ev["event_type"] == "purchase").sum() == (raw["event_type"] == "purchase").sum()
    assert ev.loc[ev["event_type"] == "purchase", "revenue"].sum() == pytest.approx(
        raw.loc[raw["event_type"] == "purchase", "price"].sum())
    assert ev["timestamp"].min() == pd.Timestamp("2019-10-01", tz="UTC")


def test_synthetic_layout(tmp_path):
    f = tmp_path / "events.csv"
    f.write_text(HEADER
                 + "2019-10-01 00:00:00 UTC,view,1,10,electronics.smartphone,apple,999.00,7,s1\n"
                 + "2019-10-01 00:01:00 UTC,cart,1,10,electronics.smartphone,apple,999.00,7,s1\n"
                 + "2019-10-01 00:02:00 UTC,remove_from_cart,1,10,electronics.smartphone,apple,999.00,7,s1\n"
                 + "2019-10-01 00:03:00 UTC,cart,2,11,,,5.50,7,s1\n"
                 + "2019-10-01 00:04:00 UTC,purchase,2,11,,,5.50,7,s1\n"
                 + "yesterday,view,2,11,,,5.50,8,s2\n")
    out = _read(f, chunk_size=4)
    ev = out["events"]
    assert ev["event_type"].tolist() == ["view", "add_to_cart", "remove_from_cart", "add_to_cart", "purchase", "view"]
    assert ev["revenue"].fillna(0).tolist() == [0, 0, 0, 0, 5.5, 0]
    assert ev["session_id"].iloc[0] == "s1" and ev["timestamp"].iloc[1] == pd.Timestamp("2019-10-01 00:01", tz="UTC")
    assert pd.isna(ev["timestamp"].iloc[5])  # left for the engine to quarantine, with the rest of the row
    items = out["products"].set_index("product_id")
    assert items.loc["1", "category"] == "electronics > smartphone" and items.loc["1", "brand"] == "apple"
    assert items.loc["1", "price"] == 999.0 and pd.isna(items.loc["2", "category"])


def test_missing_columns_are_named(tmp_path):
    f = tmp_path / "events.csv"
    f.write_text("event_time,event_type,product_id\n2019-10-01 00:00:00 UTC,view,1\n")
    with pytest.raises(SchemaError, match="user_id"):
        get_adapter("rees46").read(f)
