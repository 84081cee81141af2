"""Old row versions of personal data: found after an erasure on PostgreSQL, reclaimed by ``persona privacy vacuum``."""

from __future__ import annotations

import json
import time

import pytest
from shop_fixtures import seed_shop
from typer.testing import CliRunner

from persona.cli.main import app
from persona.privacy.crypto import create_key_file
from persona.privacy.gdpr import erase_customer
from persona.privacy.report import privacy_report
from persona.privacy.vacuum import pending, vacuum

ENV = {"PERSONA_WORKSPACE": "", "PERSONA_GLOBAL_HOLDOUT": "0"}


def _pending_after_stats(store, want: str, seconds: float = 15.0) -> dict[str, int]:
    """:func:`pending` once the server's statistics show ``want`` (backends report dead rows a moment after commit)."""
    deadline = time.monotonic() + seconds
    while True:
        found = pending(store)
        if want in found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


@pytest.mark.postgres
def test_postgres_an_erasure_leaves_old_row_versions_that_vacuum_reclaims(pg_store):
    settings = pg_store.settings
    create_key_file(settings.key_path)
    seed_shop(pg_store, settings, 12)
    assert pending(pg_store) == {}  # nothing erased, redacted or rotated: dead versions hold nothing erased
    erase_customer(pg_store, settings, "c00003")
    found = _pending_after_stats(pg_store, "customers")
    assert found.get("customers", 0) >= 1 and found.get("events", 0) >= 1, found
    rep = privacy_report(pg_store, settings)
    assert rep["erasure"]["old_row_versions"] == found or "customers" in rep["erasure"]["old_row_versions"]
    assert any("persona privacy vacuum" in f and "customers" in f for f in rep["findings"])

    out = vacuum(pg_store, actor="test")
    assert out["database"] == "postgresql" and out["full"] is False
    assert out["tables"]["customers"]["dead_before"] >= 1 and out["tables"]["customers"]["dead_after"] == 0
    assert set(out["tables"]) >= {"customers", "events", "reviews", "messages", "audit_log"}
    assert pending(pg_store) == {}  # vacuumed since the erasure
    assert not any("persona privacy vacuum" in f for f in privacy_report(pg_store, settings)["findings"])
    assert pg_store.read_frame("SELECT action FROM audit_log WHERE action = 'vacuum'")["action"].tolist() == ["vacuum"]


@pytest.mark.postgres
def test_postgres_a_full_vacuum_rewrites_the_tables_and_keeps_every_row(pg_store):
    settings = pg_store.settings
    create_key_file(settings.key_path)
    seed_shop(pg_store, settings, 8)
    erase_customer(pg_store, settings, "c00001")
    assert "customers" in _pending_after_stats(pg_store, "customers")
    counts = {t: pg_store.count(t) for t in ("customers", "events", "consents")}
    before = pg_store.read_frame("SELECT pg_relation_filenode('customers') AS f")["f"].iloc[0]
    out = vacuum(pg_store, full=True)
    assert out["full"] is True and out["tables"]["customers"]["dead_after"] == 0
    assert pg_store.read_frame("SELECT pg_relation_filenode('customers') AS f")["f"].iloc[0] != before  # a new file
    assert {t: pg_store.count(t) for t in counts} == counts
    assert pending(pg_store) == {}  # a rewrite counts as vacuumed


def test_sqlite_needs_no_vacuum_after_an_erasure_and_vacuum_truncates_the_log(workspace_shop):
    store, settings = workspace_shop
    seed_shop(store, settings, 10)
    erase_customer(store, settings, "c00002")
    assert pending(store) == {}  # secure_delete overwrote the erased content at once
    assert privacy_report(store, settings)["erasure"]["old_row_versions"] == {}
    out = vacuum(store)
    assert out["database"] == "sqlite" and out["free_pages_after"] <= out["free_pages_before"]
    wal = settings.workspace / "persona.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0
    full = vacuum(store, full=True)
    assert full["free_pages_after"] == 0 and store.count("customers") == 10


def test_cli_vacuum_prints_json_and_a_summary(workspace_shop):
    store, settings = workspace_shop
    seed_shop(store, settings, 5)
    runner = CliRunner()
    r = runner.invoke(app, ["privacy", "vacuum", "--json", "--workspace", str(settings.workspace)], env=ENV)
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["database"] == "sqlite"
    r = runner.invoke(app, ["privacy", "vacuum", "--full", "--workspace", str(settings.workspace)], env=ENV)
    assert r.exit_code == 0 and "file rebuilt" in r.output, r.output


@pytest.mark.postgres
def test_postgres_a_slow_vacuum_shows_its_progress(pg_store, monkeypatch):
    import itertools

    import persona.privacy.vacuum as vac
    from persona.store import portable

    clock = itertools.count(0.0, 2.0)  # every table takes two seconds
    monkeypatch.setattr(portable.time, "perf_counter", lambda: next(clock))
    shown = []

    class Spy(portable.RowProgress):
        def close(self) -> None:
            shown.append((self._bar is not None, self.unit, self.done))
            super().close()

    monkeypatch.setattr(vac, "RowProgress", Spy)
    out = vac.vacuum(pg_store, progress=True)
    assert shown == [(True, "tables", len(out["tables"]))] and out["seconds"] > 1
    vac.vacuum(pg_store, progress=False)  # asked not to: none
    assert shown[1] == (False, "tables", len(out["tables"]))
