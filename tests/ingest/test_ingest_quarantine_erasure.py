"""Quarantine files and erasure: erasing a person takes every quarantined row naming them (by id as a whole field,
by e-mail in any case, by phone however it is written) out of the workspace's quarantine files, atomically and
without losing a row a concurrent load appends; later loads quarantine no row of an erased customer; the privacy
report lists quarantine files still naming an erased customer and ``--all-erased`` clears them."""

from __future__ import annotations

import csv
import json
import os
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from persona.cli.main import app
from persona.ingest import ingest_file
from persona.ingest import quarantine as q
from persona.ingest.quarantine import Person, PersonMatcher, Quarantine, scrub_quarantine
from persona.privacy.gdpr import erase_customer, finish_erasures
from persona.privacy.report import privacy_report

CUSTOMERS = ("customer_id,email,phone,name,birth_year\n"
             "c1,ann@example.com,+47 912 34 567,Ann A,1980\n"
             "c2,bob@example.com,+49 170 7654321,Bob B,1990\n"
             "c2,bob@example.com,+49 170 7654321,Bob B,nineteen-ninety\n"  # rejected: names c2 by id
             "c1,ann@example.com,+47 912 34 567,Ann A,old\n")  # rejected: Ann's, stays
EVENTS = ("customer_id,product_id,event_type,timestamp,note\n"
          "c1,p1,view,2026-01-01,fine\n"
          "c2,p1,view,2026-01-01,fine\n"
          "c2,p1,view,not-a-time,x\n"  # by id
          "c1,p1,view,not-a-time,x\n"  # Ann's
          ",p1,view,2026-01-02,write to BOB@Example.com\n"  # no id: by e-mail, another case
          "c9,p1,view,not-a-time,call 0170/765 43 21\n"  # another id: by phone, written otherwise
          "c20,p1,view,not-a-time,c2x\n"  # neither c20 nor c2x is c2
          "c2,p1,view,2026-01-01,one,field,too,many\n")  # malformed line: by id in the raw text
EVENTS_ONLY_BOB = "customer_id,product_id,event_type,timestamp\nc2,p1,view,soon\nc2,p2,view,later\n"


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _load(store, folder: Path) -> dict[str, Path]:  # noqa: ANN001
    folder.mkdir()
    files = {"customers": folder / "customers.csv", "events": folder / "events.csv", "bob": folder / "bob.csv"}
    files["customers"].write_text(CUSTOMERS, encoding="utf-8")
    files["events"].write_text(EVENTS, encoding="utf-8")
    files["bob"].write_text(EVENTS_ONLY_BOB, encoding="utf-8")
    return {k: Path(ingest_file(store, "customers" if k == "customers" else "events", p).quarantine) for k, p in files.items()}


def test_erasure_takes_the_persons_rows_out_of_every_quarantine_file(workspace_shop, tmp_path) -> None:  # noqa: ANN001
    store, settings = workspace_shop
    qfiles = _load(store, tmp_path / "shop")
    assert [len(_rows(p)) for p in qfiles.values()] == [2, 6, 2]
    other = settings.quarantine_dir / "unrelated.csv"  # no quarantine header: never rewritten
    other.write_text("c2,bob@example.com\n", encoding="utf-8")

    out = erase_customer(store, settings, "c2")
    assert out["quarantine"]["files"] == {qfiles["customers"].name: 1, qfiles["events"].name: 4, qfiles["bob"].name: 2}
    assert out["quarantine"]["rows"] == 7 and out["quarantine"]["removed_files"] == [qfiles["bob"].name]
    assert not qfiles["bob"].exists()  # nothing of anyone else in it: removed
    assert [r["raw"] for r in _rows(qfiles["customers"])] == ["c1,ann@example.com,+47 912 34 567,Ann A,old"]
    assert [r["raw"] for r in _rows(qfiles["events"])] == ["c1,p1,view,not-a-time,x", "c20,p1,view,not-a-time,c2x"]
    for p in (qfiles["customers"], qfiles["events"]):
        assert p.stat().st_mode & 0o777 == 0o600
        text = p.read_text(encoding="utf-8").lower()
        assert "bob" not in text and "765" not in text
    assert other.read_text(encoding="utf-8") == "c2,bob@example.com\n"
    assert not list(settings.quarantine_dir.glob(".*"))  # no temporary file left
    audit = store.read_frame("SELECT details FROM audit_log WHERE action = 'erase'")["details"].iloc[0]
    assert (json.loads(audit) if isinstance(audit, str) else audit)["quarantine_rows"] == 7
    rep = privacy_report(store, settings)["erasure"]
    assert rep["quarantine_files"] == {} and rep["complete"] is True

    # the same files again: no row of the erased customer is quarantined (counted as duplicates, as their rows are)
    again = ingest_file(store, "events", tmp_path / "shop" / "events.csv")
    assert again.read == again.accepted + again.duplicates + again.rejected
    assert again.erased == 3  # the valid row and the two rejected ones that name c2 by id
    assert "c2,p1,view,not-a-time,x" not in [r["raw"] for r in _rows(Path(again.quarantine))]
    bob = ingest_file(store, "events", tmp_path / "shop" / "bob.csv")
    assert (bob.rejected, bob.duplicates, bob.quarantine) == (0, 2, None)
    assert privacy_report(store, settings)["erasure"]["quarantine_files"] == {}


def test_the_report_names_quarantine_files_an_older_version_left_and_all_erased_clears_them(workspace_shop) -> None:  # noqa: ANN001
    from shop_fixtures import seed_shop

    store, settings = workspace_shop
    seed_shop(store, settings, 4)
    erase_customer(store, settings, "c00001")
    old = Quarantine(settings.quarantine_dir / "events-20250101T000000-run1.csv")  # written before erasure reached files
    old.write([(2, "unparseable timestamp 'x'", "c00001,p1,view,x"), (3, "unparseable timestamp 'y'", "c00002,p1,view,y")])
    rep = privacy_report(store, settings)
    assert rep["erasure"]["rows_left"] == {"quarantine": 1} and rep["erasure"]["quarantine_files"] == {old.path.name: 1}
    assert any(f"quarantine (1) (quarantine files: {old.path.name}): run `persona privacy erase --all-erased --yes`" in f
               for f in rep["findings"])
    plan = finish_erasures(store, settings, apply=False)
    assert (plan["finished"], plan["quarantine"]["rows"]) == (1, 1) and len(_rows(old.path)) == 2
    r = CliRunner().invoke(app, ["privacy", "erase", "--all-erased", "--yes", "--workspace", str(settings.workspace)],
                           env={"PERSONA_WORKSPACE": ""})
    assert r.exit_code == 0 and "1 quarantine row(s) in 1 file(s)" in " ".join(r.output.split()), r.output
    assert [row["raw"] for row in _rows(old.path)] == ["c00002,p1,view,y"]
    assert privacy_report(store, settings)["erasure"]["complete"] is True


def test_the_matcher_finds_whole_ids_emails_in_any_case_and_phones_however_written() -> None:
    m = PersonMatcher([Person("c1", ("Ann@Example.com",), ("+49 170 1234567",)), Person("shop 7"), Person("42")])
    found = {
        "c1,view,2020": "c1", '{"customer_id": "c1", "x": 1}': "c1", '"c1"': "c1", "a\tc1\tb": "c1",
        "c10,view": None, "abc1,x": None, "c1x": None,
        "x,ann@example.COM,y": "c1", "x,joann@example.com": None, "x,ann@example.com.au": None,
        "call 0170-123 45 67 now": "c1", "(0170) 1234567": "c1", "0049 170 123 4567": "c1", "call 0170-123 45 678": None,
        "id:shop 7,": "shop 7", "shop 77": None, '{"customer_id": 42}': "42", "420": None,
    }
    assert {t: m.owner(t) for t in found} == found
    assert m.may_name(b"xx c10 yy") and not m.may_name(b"nothing here")  # a cheap superset: rows decide
    many = PersonMatcher(Person(f"id{i:05d}") for i in range(q.FIND_EACH_MAX + 50))
    assert many.may_name(b"a,b,id00049,c") and not many.may_name(b"a,id0004,id000499,c")
    assert not PersonMatcher([])
    assert PersonMatcher([Person("c1", phones=("112",))]).owner("dial 112") is None  # too short to find anyone by


def test_the_whole_file_check_reads_in_overlapping_chunks(monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setattr(q, "_CHUNK", 12)
    monkeypatch.setattr(q, "_OVERLAP", 40)  # windows of 52 bytes, 12 apart: whatever is 40 bytes long is in one
    data = b"0123456789abcd,target,x" + b"," * 40 + b"call 0170 765-43-21 or BOB@EXAMPLE.COM"
    assert PersonMatcher([Person("target")]).may_name(data)  # the id straddles the first boundary
    assert PersonMatcher([Person("zz", ("bob@example.com",))]).may_name(data)
    assert PersonMatcher([Person("zz", phones=("+49 170 7654321",))]).may_name(data)
    assert not PersonMatcher([Person("zz", ("ann@example.com",), ("+49 170 1111111",))]).may_name(data)
    many = PersonMatcher(Person(f"id{i}") for i in range(100))
    assert many.may_name(b"x" * 10 + b",id42,") and not many.may_name(b"x" * 10 + b",id420,")


def test_files_naming_nobody_are_read_once_and_left_alone(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    rows_read = []
    real = q._match_rows
    monkeypatch.setattr(q, "_match_rows", lambda data, matcher, counts: rows_read.append(1) or real(data, matcher, counts))
    files = []
    for i in range(60):
        qq = Quarantine(tmp_path / f"events-{i}.csv")
        qq.write([(n, "bad timestamp", f"c{i}-{n},p1,view,x") for n in range(500)])
        files.append(qq.path)
    qq.write([(501, "bad timestamp", "target,p1,view,x")])
    stamps = {p: p.stat().st_mtime_ns for p in files}
    res = scrub_quarantine(files, PersonMatcher([Person("target")]))
    assert res.files == {files[-1].name: 1} and res.scanned == 60 and len(rows_read) == 1
    assert all(p.stat().st_mtime_ns == stamps[p] for p in files[:-1])


def test_rows_appended_while_a_file_is_rewritten_are_kept(tmp_path) -> None:
    """A writer that waits for the lock a scrub holds appends to the rewritten file, not to the one renamed away."""
    qq = Quarantine(tmp_path / "events-1.csv")
    qq.write([(1, "bad", "gone,p1"), (2, "bad", "kept,p1")])
    writer = Quarantine(qq.path)
    started = threading.Event()

    def late_write() -> None:
        started.set()
        writer.write([(3, "bad", "late,p1")])

    with q._locked(qq.path, os.O_RDONLY):  # the scrub's lock, taken by hand to hold the writer back
        t = threading.Thread(target=late_write)
        t.start()
        started.wait()
        time.sleep(0.2)
        assert t.is_alive()  # waiting for the lock
        tmp = tmp_path / ".events-1.csv.tmp"
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            csv.writer(fh).writerows([q.COLUMNS, (2, "bad", "kept,p1")])
        os.replace(tmp, qq.path)
    t.join(5)
    assert [r["raw"] for r in _rows(qq.path)] == ["kept,p1", "late,p1"]
    res = scrub_quarantine([qq.path], PersonMatcher([Person("late")]))
    assert res.removed_files == [] and [r["raw"] for r in _rows(qq.path)] == ["kept,p1"]
    qq.trim(0)
    assert not qq.path.exists()


@pytest.mark.parametrize("apply", [True, False])
def test_a_dry_scrub_counts_and_changes_nothing(tmp_path, apply) -> None:  # noqa: ANN001
    qq = Quarantine(tmp_path / "customers-1.csv")
    qq.write([(1, "bad", "p,x@y.z"), (2, "bad", "q,z@y.z")])
    before = qq.path.read_bytes()
    res = scrub_quarantine([qq.path], PersonMatcher([Person("p")]), apply=apply)
    assert res.files == {qq.path.name: 1}
    assert (qq.path.read_bytes() == before) is (not apply)
