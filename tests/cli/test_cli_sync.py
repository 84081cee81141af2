"""CLI: ``persona sync`` pulls the sources of ``config.toml``; ``--list`` shows them without secrets; mistakes exit 2."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from loopback_http import LoopbackAPI, Reply
from typer.testing import CliRunner

from persona.cli.main import app
from persona.cli.sync import _pulled

runner = CliRunner()
TOKEN = "sync-tok-7d6c5b4a39"



@pytest.fixture
def ws(cli_ws: Path) -> Path:
    return cli_ws


@pytest.fixture
def crm(tmp_path: Path) -> str:
    path = tmp_path / "crm.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE crm (customer_id TEXT, email TEXT)")
    con.executemany("INSERT INTO crm VALUES (?, ?)", [("c1", "a@example.com"), ("c2", "b@example.com")])
    con.commit()
    con.close()
    return f"sqlite:///{path}"


def _configure(ws: Path, sources: str) -> None:
    cfg = ws / "config.toml"
    cfg.write_text(cfg.read_text(encoding="utf-8") + "\n" + sources, encoding="utf-8")


def _sync(ws: Path, *args: str):
    return runner.invoke(app, ["sync", "--workspace", str(ws), *args])


def test_sync_json_table_rerun_and_list_without_secrets(ws, crm, monkeypatch):
    monkeypatch.setenv("SHOP_AUTH", f"Bearer {TOKEN}")
    with LoopbackAPI() as api:
        api.route("/events?api_key=k-123", Reply([{"event_id": f"e{i}", "customer_id": "c1", "event_type": "view",
                                                    "timestamp": 1_700_000_000 + i} for i in range(5)]))
        _configure(ws, f'[sources.clicks]\nentity = "events"\nurl = "{api.url("/events?api_key=k-123")}"\n'
                       f'headers_env = {{Authorization = "SHOP_AUTH"}}\n\n'
                       f'[sources.crm]\nentity = "customers"\nsql = "crm"\ndb = "{crm}"\n')
        res = _sync(ws, "--json")
        assert res.exit_code == 0, res.output
        rows = json.loads(res.stdout)
        assert [(r["name"], r["status"], r["accepted"]) for r in rows] == [("crm", "ok", 2), ("clicks", "ok", 5)]
        assert api.requests[0].headers["authorization"] == f"Bearer {TOKEN}"
        again = _sync(ws, "clicks")  # one source by name, as a table
        assert again.exit_code == 0 and "clicks" in again.stdout and "crm" not in again.stdout
        assert len(api.requests) == 2
    listed = _sync(ws, "--list", "--json")
    assert listed.exit_code == 0
    shown = json.loads(listed.stdout)
    assert [s["name"] for s in shown] == ["crm", "clicks"]
    assert "api_key=***" in shown[1]["source"] and "$SHOP_AUTH" in shown[1]["source"]
    assert "k-123" not in listed.stdout and TOKEN not in listed.stdout and TOKEN not in res.output
    from persona.config import load_settings
    from persona.store import open_store

    store = open_store(load_settings(ws))
    try:
        audit = store.read_frame("SELECT actor, action, details FROM audit_log WHERE action = 'sync_sources' ORDER BY id")
    finally:
        store.dispose()
    assert audit["actor"].tolist() == ["cli", "cli"]  # every pull is audited, from the command line too
    assert [json.loads(d)["sources"] if isinstance(d, str) else d["sources"] for d in audit["details"]] == [["crm", "clicks"], ["clicks"]]


def test_a_failing_source_exits_1_after_the_others_ran(ws, crm):
    _configure(ws, f'[sources.crm]\nentity = "customers"\nsql = "crm"\ndb = "{crm}"\n\n'
                   f'[sources.gone]\nentity = "events"\nsql = "no_such_table"\ndb = "{crm}"\n')
    res = _sync(ws)
    assert res.exit_code == 1
    assert "source 'gone' failed" in res.stderr and "no_such_table" in res.stderr
    assert "Traceback" not in res.output
    rows = json.loads(_sync(ws, "--json").stdout)
    assert [(r["name"], r["status"], r.get("duplicates")) for r in rows] == [("crm", "ok", 2), ("gone", "failed", None)]


def test_an_inline_password_is_warned_about(ws, tmp_path):
    db = tmp_path / "x.db"
    sqlite3.connect(db).execute("CREATE TABLE t (customer_id TEXT)").connection.close()
    _configure(ws, f'[sources.crm]\nentity = "customers"\nsql = "t"\ndb = "sqlite://me:hunter2@/{db}"\n')
    res = _sync(ws)
    assert "password written in config.toml" in res.stderr and "hunter2" not in res.output


@pytest.mark.parametrize(("sources", "args", "expected"), [
    ("", [], "no sources are configured"),
    ('[sources.crm]\nentity = "customers"\nsql = "crm"\ndb = "sqlite:///x.db"\n', ["crn"], "unknown source(s) 'crn'"),
    ('[sources.crm]\nentity = "customers"\nsql = "crm"\n', [], "[sources.crm] is invalid"),
    ('[sources.crm\n', [], "cannot parse"),
    ('[sources.crm]\nentity = "customers"\nsql = "crm"\ndb = "sqlite:///x.db"\n', ["--every", "5", "--schedule", "0 * * * *"],
     "--every and --schedule exclude each other"),
    ('[sources.crm]\nentity = "customers"\nsql = "crm"\ndb = "sqlite:///x.db"\n', ["--schedule", "hourly"], "not a cron expression"),
])
def test_mistakes_exit_2_in_one_line(ws, sources, args, expected):
    _configure(ws, sources)
    res = _sync(ws, *args)
    assert res.exit_code == 2, res.output
    assert expected in res.stderr and "Traceback" not in res.output


def test_scheduled_pulls_stop_after_max_runs(ws, crm):
    _configure(ws, f'[sources.crm]\nentity = "customers"\nsql = "crm"\ndb = "{crm}"\n')
    res = _sync(ws, "--json", "--every", "1", "--max-runs", "2")
    assert res.exit_code == 0, res.output
    first, second = (json.loads(part) for part in res.stdout.replace("]\n[", "]\n\x00[").split("\x00"))
    assert first[0]["accepted"] == 2 and second[0]["duplicates"] == 2


def test_incremental_sources_show_where_they_read_from(ws, tmp_path):
    db = tmp_path / "shop.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE crm (customer_id TEXT, updated INTEGER)")
    con.executemany("INSERT INTO crm VALUES (?, ?)", [("c1", 10), ("c2", 20)])
    con.commit()
    con.close()
    _configure(ws, f'[sources.crm]\nentity = "customers"\nsql = "crm"\ndb = "sqlite:///{db}"\nsince_column = "updated"\n')
    first = json.loads(_sync(ws, "--json").stdout)[0]
    assert _pulled(first["cursor"]) == "all; next from 20"
    second = _sync(ws)  # the table, with the pulled column
    assert second.exit_code == 0 and "pulled" in second.stdout and "from 20" in second.stdout
    second = json.loads(_sync(ws, "--json").stdout)[0]
    assert (second["read"], second["duplicates"]) == (1, 1) and _pulled(second["cursor"]) == "updated >= 20; next from 20"
    assert _pulled(None) == "all"
    full = json.loads(_sync(ws, "--full", "--json").stdout)[0]
    assert full["read"] == 2 and full["cursor"]["full"] is True
