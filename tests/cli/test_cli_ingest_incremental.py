"""CLI: ``persona ingest … --since-column / --since-param --since-field / --full`` and ``persona ingest cursors``."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from loopback_http import LoopbackAPI, Reply
from test_cli_ingest_sources import _main, _run

from persona.config import load_settings
from persona.store import open_store

QUERY = "SELECT id AS customer_id, updated_at FROM crm"



@pytest.fixture
def ws(cli_ws: Path) -> str:
    return str(cli_ws)


@pytest.fixture
def crm(tmp_path: Path) -> tuple[str, sqlite3.Connection]:
    path = tmp_path / "crm.db"
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("CREATE TABLE crm (id TEXT, updated_at TEXT)")
    con.executemany("INSERT INTO crm VALUES (?, ?)", [(f"c{i}", f"2026-11-01 10:00:0{i}") for i in range(4)])
    yield f"sqlite:///{path}", con
    con.close()


def _stored(ws: str) -> tuple[int, int, int]:
    store = open_store(load_settings(Path(ws)))
    try:
        return store.count("customers"), store.count("ingest_runs"), store.count("source_cursors")
    finally:
        store.dispose()


def test_since_column_json_table_and_cursors_list_and_reset(ws, crm, capsys):
    url, con = crm
    args = ("ingest", "customers", "--sql", QUERY, "--db", url, "--since-column", "updated_at", "--workspace", ws)
    code, out = _run(*args, "--json")
    assert code == 0, out
    rep = json.loads(out)
    assert rep["read"] == 4 and rep["cursor"]["from"] is None and rep["cursor"]["to"] == "2026-11-01 10:00:03"
    key = rep["cursor"]["key"]
    con.execute("INSERT INTO crm VALUES ('c9', '2026-11-02 07:30:00')")
    code, out = _run(*args)
    assert code == 0, out
    assert "incremental from updated_at >= 2026-11-01 10:00:03" in " ".join(out.split())
    code, out = _run(*args, "--full", "--json")
    assert code == 0 and json.loads(out)["read"] == 5 and json.loads(out)["cursor"]["full"] is True

    code, out = _run("ingest", "cursors", "--workspace", ws, "--json")
    assert code == 0, out
    [listed] = json.loads(out)
    assert (listed["key"], listed["entity"], listed["column"], listed["value"]) == (key, "customers", "updated_at",
                                                                                    "2026-11-02 07:30:00")
    assert listed["source"].endswith(QUERY)
    code, out = _run("ingest", "cursors", "--workspace", ws)
    assert code == 0 and key in out and "updated_at >= 2026-11-02 07:30:00" in out

    code, err = _main(capsys, "ingest", "cursors", "--reset", key[:6], "--workspace", ws)
    assert code == 2 and f"would clear 1 cursor(s): {key}" in err and "add --yes" in err
    assert _stored(ws)[2] == 1
    code, err = _main(capsys, "ingest", "cursors", "--reset", "ffffffff", "--yes", "--workspace", ws)
    assert code == 3 and "no stored cursor has the key 'ffffffff'" in err
    code, out = _run("ingest", "cursors", "--reset", key, "--yes", "--workspace", ws, "--json")
    assert code == 0 and [c["key"] for c in json.loads(out)["cleared"]] == [key]
    assert _stored(ws)[2] == 0
    code, out = _run(*args, "--json")
    assert json.loads(out)["read"] == 5 and json.loads(out)["cursor"]["from"] is None  # read everything again
    code, err = _main(capsys, "ingest", "cursors", "--all", "--workspace", ws)
    assert code == 2 and "would clear 1 cursor(s)" in err and _stored(ws)[2] == 1
    code, out = _run("ingest", "cursors", "--all", "--yes", "--workspace", ws)
    assert code == 0 and "cleared 1 cursor(s)" in out and _stored(ws)[2] == 0


def test_since_param_json_and_missing_field_warning(ws):
    events = [{"event_id": f"e{i}", "customer_id": "c1", "event_type": "view", "timestamp": 1_700_000_000 + i, "seq": i}
              for i in range(3)]
    del events[0]["seq"]
    with LoopbackAPI() as api:
        api.route("/feed", Reply(events))
        api.route("/feed?after=2", Reply(events[2:]))
        args = ("ingest", "events", "--url", api.url("/feed"), "--since-param", "after", "--since-field", "seq", "--workspace", ws)
        code, out = _run(*args, "--json")
        assert code == 0, out
        assert json.loads(out)["cursor"] | {"key": None} == {"key": None, "column": "seq", "from": None, "to": 2,
                                                             "type": "integer", "missing": 1, "full": False}
        code, out = _run(*args)
        assert code == 0 and "incremental from seq >= 2" in " ".join(out.split()), out
        assert api.requests[-1].path == "/feed?after=2"


def test_user_mistakes_are_one_line_exit_2_and_write_nothing(ws, crm, capsys):
    url, con = crm
    con.execute("CREATE TABLE mixed (id TEXT, v)")
    con.execute("INSERT INTO mixed VALUES ('c1', 1), ('c2', 'two')")
    feed = "http://127.0.0.1:1/feed"
    cases = {
        ("--since-column", "updated_at"): "--since-column goes with --sql",
        ("--url", feed, "--since-column", "updated_at"): "--since-column goes with --sql",
        ("--url", feed, "--since-param", "after"): "--since-param needs --since-field",
        ("--url", feed, "--since-field", "seq"): "--since-field needs --since-param",
        ("--sql", QUERY, "--db", url, "--since-param", "after", "--since-field", "seq"): "go with --url",
        ("--sql", QUERY, "--db", url, "--full"): "--full applies to incremental pulls only",
        ("--sql", QUERY, "--db", url, "--since-column", "nope"):
            "'nope' is not a column of the query's result (columns there: customer_id, updated_at)",
        ("--sql", "SELECT id AS customer_id, v FROM mixed", "--db", url, "--since-column", "v"):
            "cannot be ordered together (number and text)",
    }
    for args, needle in cases.items():
        code, err = _main(capsys, "ingest", "customers", *args, "--workspace", ws)
        assert code == 2, (args, err)
        assert needle in " ".join(err.split()) and "Traceback" not in err, (args, err)
        assert len(err.strip().splitlines()) <= 3, err
    with LoopbackAPI() as api:
        api.route("/feed", Reply([{"customer_id": "c1"}]))
        code, err = _main(capsys, "ingest", "customers", "--url", api.url("/feed"), "--since-param", "after",
                          "--since-field", "updated", "--workspace", ws)
        assert code == 2 and "'updated' is in none of the 1 records of the first page" in " ".join(err.split()), err
    assert _stored(ws) == (0, 0, 0)
