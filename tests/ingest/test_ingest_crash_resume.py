"""A crash or Ctrl-C mid-file keeps whole chunks only; rerunning resumes and finishes without duplicates."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from persona.ingest import ingest_file
from persona.ingest.writer import EntityWriter
from persona.privacy.crypto import PIICipher

CIPHER = PIICipher(b"r" * 32)


def _file(tmp_path: Path, n: int = 100) -> Path:
    lines = ["customer_id,event_type,timestamp,value"] + [f"c{i % 9},view,{1_600_000_000 + i},{i}" for i in range(n)]
    lines.insert(50, "c1,view,not-a-time,1")  # one reject, in the second half
    p = tmp_path / "ev.csv"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p


@pytest.mark.parametrize("exc", [KeyboardInterrupt, RuntimeError])
def test_interrupt_then_resume(any_store, tmp_path, monkeypatch, exc):
    f = _file(tmp_path)
    real = EntityWriter.write
    calls = {"n": 0}

    def flaky(self, w, frame):
        calls["n"] += 1
        if calls["n"] == 3:
            real(self, w, frame)  # the chunk's rows are written inside the transaction, then it dies
            raise exc("killed")
        return real(self, w, frame)

    monkeypatch.setattr(EntityWriter, "write", flaky)
    with pytest.raises(exc):
        ingest_file(any_store, "events", f, chunk_size=20, cipher=CIPHER)
    assert any_store.count("events") == 40  # two whole chunks, the third rolled back
    run = any_store.read_frame("SELECT status, read, accepted, position FROM ingest_runs")
    assert run["status"].iloc[0] == ("interrupted" if exc is KeyboardInterrupt else "failed")
    assert (int(run["read"].iloc[0]), int(run["accepted"].iloc[0]), int(run["position"].iloc[0])) == (40, 40, 41)

    monkeypatch.setattr(EntityWriter, "write", real)
    rep = ingest_file(any_store, "events", f, chunk_size=20, cipher=CIPHER)
    assert rep.resumed and (rep.read, rep.accepted, rep.duplicates, rep.rejected) == (101, 100, 0, 1)
    assert any_store.count("events") == 100
    assert any_store.read_frame("SELECT status FROM ingest_runs")["status"].tolist() == ["done"]
    with open(rep.quarantine, encoding="utf-8", newline="") as fh:  # the killed chunk's reject was written, then trimmed
        assert [row[0] for row in csv.reader(fh)] == ["line", "51"]
    rep2 = ingest_file(any_store, "events", f, chunk_size=20, cipher=CIPHER)  # finished: a new run, all duplicates
    assert not rep2.resumed and (rep2.accepted, rep2.duplicates, rep2.rejected) == (0, 100, 1)
