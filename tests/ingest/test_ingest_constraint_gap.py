"""A row that slips past the checks and breaks a NOT NULL constraint stops the load with one clear line; nothing vanishes.

Before, SQLite's ``INSERT OR IGNORE`` dropped such a row silently: it was neither counted nor quarantined.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from persona.cli.main import app
from persona.errors import ConstraintError
from persona.ingest import ingest_file
from persona.ingest.writer import EntityWriter
from persona.privacy.crypto import PIICipher

CIPHER = PIICipher(b"g" * 32)
LEAK = "leak"  # the event type the leaky check lets through as an empty one


@pytest.fixture
def leaky_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    """A gap in validation: rows whose type is ``leak`` reach the writer with no event type."""
    prepare = EntityWriter.prepare

    def leaky(self: EntityWriter, frame: pd.DataFrame, dialect: str) -> object:
        if "event_type" in frame.columns:
            frame = frame.assign(event_type=frame["event_type"].astype(object).where(frame["event_type"] != LEAK, None))
        return prepare(self, frame, dialect)

    monkeypatch.setattr(EntityWriter, "prepare", leaky)


def _file(path: Path) -> Path:
    rows = [f"e{i},c{i},view,2026-01-0{1 + i % 9}" for i in range(1, 5)] + ["e5,c5,leak,2026-01-05", "e6,c6,view,2026-01-06"]
    path.write_text("event_id,customer_id,event_type,timestamp\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_the_load_stops_at_the_chunk_and_keeps_the_ones_before(any_store, tmp_path, leaky_checks) -> None:  # noqa: ANN001
    f = _file(tmp_path / "events.csv")
    with pytest.raises(ConstraintError) as info:
        ingest_file(any_store, "events", f, cipher=CIPHER, chunk_size=2)
    assert (info.value.table, info.value.column) == ("events", "event_type")
    # chunks 1-2 committed; chunk 3 (e5, e6) rolled back whole, e6 included
    assert any_store.read_frame("SELECT event_id FROM events ORDER BY event_id")["event_id"].tolist() == ["e1", "e2", "e3", "e4"]
    run = any_store.read_frame("SELECT status, read, accepted, duplicates, rejected, error FROM ingest_runs").iloc[0]
    assert run["status"] == "failed" and "events.event_type" in run["error"]
    assert (run["read"], run["accepted"], run["duplicates"], run["rejected"]) == (4, 4, 0, 0)  # exact: no row unaccounted


def test_the_cli_prints_one_line_and_exits_with_the_store_code(tmp_path, monkeypatch, leaky_checks) -> None:  # noqa: ANN001
    for var in ("PERSONA_WORKSPACE", "PERSONA_DATABASE_URL", "PERSONA_SECRET_KEY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PERSONA_PROGRESS", "false")
    ws = tmp_path / "ws"
    runner = CliRunner()
    assert runner.invoke(app, ["init", "--workspace", str(ws)]).exit_code == 0
    res = runner.invoke(app, ["ingest", "events", str(_file(tmp_path / "events.csv")), "--workspace", str(ws)])
    assert res.exit_code == 4, res.output
    assert "error[constraint_violation]: the database refused rows for events: a row has no event_type" in res.output
    assert "Traceback" not in res.output
