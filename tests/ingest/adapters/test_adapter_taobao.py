"""Taobao UserBehavior: behaviour codes mapped onto Persona's event types; items as products with category."""

from __future__ import annotations

import pandas as pd
import pytest
from shared_data import shared_data

from persona.errors import DataFileError
from persona.ingest.adapters import get_adapter


def _read(path, **kw):
    return {k: pd.concat(list(v), ignore_index=True) for k, v in get_adapter("taobao").read(path, **kw).items()}


def test_shared_head_counts():
    path = shared_data("taobao-behavior", "UserBehavior-head.csv")
    out = _read(path, chunk_size=20_000)
    ev, items = out["events"], out["products"]
    raw = pd.read_csv(path, header=None, names=["u", "i", "c", "b", "t"])
    assert len(ev) == 84_475 and ev["customer_id"].nunique() == 815
    assert ev["event_id"].nunique() == len(raw.drop_duplicates())  # only exact duplicate rows share an id
    assert len(items) == raw["i"].nunique() and items["product_id"].is_unique
    counts = ev["event_type"].value_counts()
    assert counts["view"] == (raw["b"] == "pv").sum() and counts["purchase"] == (raw["b"] == "buy").sum()
    assert counts["add_to_cart"] == (raw["b"] == "cart").sum() and counts["wishlist"] == (raw["b"] == "fav").sum()
    assert ev["timestamp"].notna().all()


def test_synthetic_with_and_without_header(tmp_path):
    rows = "1,100,7,pv,1511544070\n1,100,7,cart,1511544080\n2,200,8,fav,1511544090\n2,100,7,buy,1511544100\n3,300,9,share,1511544110\n"
    for name, text in (("UserBehavior.csv", rows), ("with_header.csv", "user_id,item_id,category_id,behavior,timestamp\n" + rows)):
        f = tmp_path / name
        f.write_text(text)
        out = _read(f, chunk_size=2)
        ev = out["events"]
        assert ev["event_type"].tolist() == ["view", "add_to_cart", "wishlist", "purchase", "share"]  # unknown kept
        assert ev["event_id"].iloc[0] == "tb:1:100:pv:1511544070"
        assert ev["timestamp"].iloc[0] == pd.Timestamp(1511544070, unit="s", tz="UTC")
        items = out["products"].set_index("product_id")
        assert items["category"].to_dict() == {"100": "7", "200": "8", "300": "9"}


def test_wrong_column_count(tmp_path):
    f = tmp_path / "UserBehavior.csv"
    f.write_text("1,100,pv,1511544070\n")
    with pytest.raises(DataFileError, match="4 columns"):
        get_adapter("taobao").read(f)
