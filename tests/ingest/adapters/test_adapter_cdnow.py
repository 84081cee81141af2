"""CDNOW: master and sample layouts, detected from the first data line; the CLV transactions helper."""

from __future__ import annotations

import pandas as pd
import pytest
from shared_data import shared_data

from persona.errors import DataFileError
from persona.ingest.adapters import get_adapter, read_cdnow_transactions


def _read(path, **kw):
    return {k: pd.concat(list(v), ignore_index=True) for k, v in get_adapter("cdnow").read(path, **kw).items()}


def test_shared_sample_counts_and_totals():
    path = shared_data("cdnow", "CDNOW_sample.txt")
    out = _read(path, chunk_size=2000)
    ev, cust = out["events"], out["customers"]
    assert len(ev) == 6919 and ev["event_id"].is_unique
    assert ev["customer_id"].nunique() == 2357 and len(cust) == 2357
    assert sorted(cust["sample_id"]) == list(range(1, 2358))
    raw = pd.read_csv(path, sep=r"\s+", header=None)
    assert ev["revenue"].sum() == pytest.approx(raw[4].sum())
    assert ev["quantity"].sum() == raw[3].sum()
    assert set(ev["event_type"]) == {"purchase"}
    assert ev["timestamp"].min() == pd.Timestamp("1997-01-01", tz="UTC")
    assert ev["timestamp"].max() <= pd.Timestamp("1998-06-30", tz="UTC")
    # every customer's created_at is their first purchase, all in the first quarter of 1997 (the cohort)
    assert cust["created_at"].max() < pd.Timestamp("1997-04-01", tz="UTC")


def test_shared_master_counts():
    out = _read(shared_data("cdnow", "CDNOW_master.txt"))
    assert len(out["events"]) == 69_659 and out["events"]["event_id"].is_unique
    assert len(out["customers"]) == 23_570


def test_folder_prefers_master():
    out = _read(shared_data("cdnow"))
    assert len(out["events"]) == 69_659


def test_read_cdnow_transactions_shared_sample():
    tx = read_cdnow_transactions(shared_data("cdnow", "CDNOW_sample.txt"))
    assert list(tx.columns[:4]) == ["customer_id", "date", "quantity", "revenue"]
    assert len(tx) == 6919 and tx["customer_id"].nunique() == 2357
    assert pd.api.types.is_datetime64_any_dtype(tx["date"])


def test_synthetic_master_with_and_without_header(tmp_path):
    body = " 00001 19970101  1   11.77\n 00001 19970101  2   20.00\n 00002 19970112  1   12.00\n 00002 19970315  5   77.00\n"
    for name, text in (("CDNOW_master.txt", " customer_id  date number_of_cds  dollar_value\n" + body),
                       ("plain.txt", body)):
        f = tmp_path / name
        f.write_text(text)
        out = _read(f, chunk_size=1)
        ev = out["events"]
        # two purchases by the same customer on the same day get distinct, stable ids
        assert ev["event_id"].tolist() == ["cdnow:1:19970101:1", "cdnow:1:19970101:2", "cdnow:2:19970112:1",
                                           "cdnow:2:19970315:1"]
        assert ev["quantity"].tolist() == [1, 2, 1, 5]
        assert ev["value"].tolist() == [11.77, 10.0, 12.0, 15.4]
        cust = out["customers"].set_index("customer_id")
        assert cust.loc["2", "created_at"] == pd.Timestamp("1997-01-12", tz="UTC")
        tx = read_cdnow_transactions(f)
        assert tx["revenue"].sum() == pytest.approx(120.77)


def test_synthetic_sample_layout_is_detected(tmp_path):
    f = tmp_path / "CDNOW_sample.txt"
    f.write_text(" 00004 0001 19970101  2   29.33\n 00018 0002 19970101  1   14.96\n")
    tx = read_cdnow_transactions(f)
    assert tx["sample_id"].tolist() == [1, 2] and tx["customer_id"].tolist() == ["4", "18"]


@pytest.mark.parametrize(("text", "needle"), [("1 2 3\n", "3 columns"), ("", "empty"), (b"\x00\x01PK", "binary")])
def test_bad_files(tmp_path, text, needle):
    f = tmp_path / "CDNOW_master.txt"
    f.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(DataFileError, match=needle):
        get_adapter("cdnow").read(f)
