"""Whole-file timestamp rules at ingest: zones per value, one day/month order per file, refusals quarantined."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest

from persona.ingest import ingest_file
from persona.ingest.writer import EntityWriter
from persona.privacy.crypto import PIICipher

CIPHER = PIICipher(b"o" * 32)
START = pd.Timestamp("2025-01-01 07:45:53")


def _events(tmp_path: Path, stamps: list[str]) -> Path:
    p = tmp_path / "ev.csv"
    p.write_text("customer_id,event_type,timestamp,value\n" + "".join(f"c{i % 7},view,{t},{i}\n" for i, t in enumerate(stamps)),
                 encoding="utf-8")
    return p


def _stored(store) -> pd.DataFrame:
    ev = store.read_frame("SELECT ts, value FROM events")
    ev["ts"] = pd.to_datetime(ev["ts"], utc=True)
    return ev.assign(i=ev["value"].astype(int)).sort_values("i").reset_index(drop=True)


def _quarantine(rep) -> list[dict]:
    with open(rep.quarantine, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_zone_less_rows_are_not_shifted_by_zoned_ones(store, tmp_path):
    times = [START + pd.Timedelta(minutes=7 * i) for i in range(400)]
    stamps = [t.strftime("%Y-%m-%dT%H:%M:%S+08:00") if i % 8 == 0 else t.strftime("%Y-%m-%d %H:%M:%S")
              for i, t in enumerate(times)]
    rep = ingest_file(store, "events", _events(tmp_path, stamps), cipher=CIPHER, chunk_size=64)
    assert (rep.accepted, rep.rejected) == (400, 0)
    want = [(t - pd.Timedelta(hours=8) if i % 8 == 0 else t).tz_localize("UTC") for i, t in enumerate(times)]
    assert _stored(store)["ts"].tolist() == want


def test_a_us_file_whose_dates_never_prove_the_order_stores_nothing_in_the_wrong_month(store, tmp_path):
    # events of Jan 1-12 as %m/%d/%Y: every value also reads as day/month (01/02/2025 = Feb 1)
    times = [START + pd.Timedelta(minutes=48 * i) for i in range(343)]
    assert times[-1] < pd.Timestamp("2025-01-13")
    rep = ingest_file(store, "events", _events(tmp_path, [t.strftime("%m/%d/%Y %H:%M:%S") for t in times]), cipher=CIPHER)
    on_jan_1 = sum(t.day == 1 for t in times)  # 01/01/2025 reads the same either way
    assert (rep.read, rep.accepted, rep.rejected) == (343, on_jan_1, 343 - on_jan_1)
    ev = _stored(store)
    assert (ev["ts"] == [times[i].tz_localize("UTC") for i in ev["i"]]).all()
    reasons = [r["reason"] for r in _quarantine(rep)]
    assert all(r.startswith("ambiguous day/month order in '01/") and "ISO 8601" in r for r in reasons)


def test_small_chunks_never_mix_orders_and_a_rerun_reads_what_was_refused(store, tmp_path):
    # Jan 1-31 in time order as %m/%d/%Y: the first day above 12 comes in a later chunk
    times = [START + pd.Timedelta(hours=3 * i) for i in range(240)]
    f = _events(tmp_path, [t.strftime("%m/%d/%Y %H:%M:%S") for t in times])
    rep = ingest_file(store, "events", f, cipher=CIPHER, chunk_size=20)
    ev = _stored(store)
    assert (ev["ts"] == [times[i].tz_localize("UTC") for i in ev["i"]]).all()  # nothing stored in the wrong month
    assert (times[93].day, times[94].day) == (12, 13)  # the first proof is in chunk 5 (rows 80-99): it reads all of it
    refused = [i for i, t in enumerate(times) if t.day != 1 and i < 80]  # chunks 1-4, all ambiguous (01/01 reads alike)
    assert rep.rejected == len(refused) and rep.accepted == 240 - len(refused)
    rows = _quarantine(rep)
    assert [int(r["line"]) - 2 for r in rows] == refused
    assert all("ambiguous day/month order" in r["reason"] for r in rows)
    # the fix the reason names: one chunk that takes in a day above 12
    again = ingest_file(store, "events", f, cipher=CIPHER, chunk_size=1000)
    assert (again.accepted, again.duplicates, again.rejected) == (len(refused), 240 - len(refused), 0)
    ev = _stored(store)
    assert len(ev) == 240 and (ev["ts"] == [t.tz_localize("UTC") for t in times]).all()


def test_a_later_chunk_proving_the_other_order_is_quarantined_not_mixed(store, tmp_path):
    stamps = ["13/01/2025 10:00:00"] + ["02/03/2025 10:00:00"] * 9 + ["01/20/2025 10:00:00", "04/05/2025 10:00:00"]
    rep = ingest_file(store, "events", _events(tmp_path, stamps), cipher=CIPHER, chunk_size=5)
    assert (rep.accepted, rep.rejected) == (11, 1)
    [row] = _quarantine(rep)
    assert row["line"] == "12" and row["reason"].startswith("day/month order in '01/20/2025 10:00:00' contradicts '13/01/2025")
    ev = _stored(store)
    assert ev["ts"].iloc[-1] == pd.Timestamp("2025-05-04 10:00", tz="UTC")  # still day first
    assert (ev["ts"].iloc[1:10] == pd.Timestamp("2025-03-02 10:00", tz="UTC")).all()


def test_a_resumed_run_keeps_the_order_found_before_the_crash(store, tmp_path, monkeypatch):
    times = [pd.Timestamp("2025-01-20 08:00")] + [START + pd.Timedelta(hours=5 * i) for i in range(1, 60)]
    f = _events(tmp_path, [t.strftime("%m/%d/%Y %H:%M:%S") for t in times])
    real, calls = EntityWriter.write, {"n": 0}

    def flaky(self, w, frame):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("killed")
        return real(self, w, frame)

    monkeypatch.setattr(EntityWriter, "write", flaky)
    with pytest.raises(RuntimeError):
        ingest_file(store, "events", f, cipher=CIPHER, chunk_size=20)
    monkeypatch.setattr(EntityWriter, "write", real)
    rep = ingest_file(store, "events", f, cipher=CIPHER, chunk_size=20)
    assert rep.resumed and (rep.accepted, rep.rejected) == (60, 0)
    assert (_stored(store)["ts"] == [t.tz_localize("UTC") for t in times]).all()
