"""CLI: ``persona ingest ENTITY --sql QUERY --db URL`` and ``--url URL --header …``, and one source at a time."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from loopback_http import LoopbackAPI, Reply
from typer.testing import CliRunner

from persona.cli.main import app

runner = CliRunner()
TOKEN = "cli-tok-93b1e7c04d"



@pytest.fixture
def ws(cli_ws: Path) -> str:
    return str(cli_ws)


@pytest.fixture
def crm(tmp_path: Path) -> str:
    path = tmp_path / "crm.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE crm (id TEXT, email TEXT)")
    con.executemany("INSERT INTO crm VALUES (?, ?)", [("c1", "a@example.com"), ("c2", "nope"), ("c3", None)])
    con.commit()
    con.close()
    return f"sqlite:///{path}"


def _run(*args: str) -> tuple[int, str]:
    res = runner.invoke(app, list(args))
    return res.exit_code, res.output


def _main(capsys, *args: str) -> tuple[int, str]:
    from persona.cli.main import main

    with pytest.raises(SystemExit) as ei:
        main(list(args))
    return int(ei.value.code or 0), capsys.readouterr().err


def _counts(out: str) -> dict[str, int]:
    rep = json.loads(out)
    return {k: rep[k] for k in ("read", "accepted", "duplicates", "rejected")}


def test_sql_json_env_url_and_table(ws, crm, monkeypatch):
    code, out = _run("ingest", "customers", "--sql", "SELECT id AS customer_id, email FROM crm", "--db", crm, "--workspace", ws, "--json")
    assert code == 0, out
    assert _counts(out) == {"read": 3, "accepted": 2, "duplicates": 0, "rejected": 1}
    assert Path(json.loads(out)["quarantine"]).is_file()
    monkeypatch.setenv("PERSONA_SOURCE_DB", crm)  # the URL (and its password) from the environment
    code, out = _run("ingest", "customers", "--sql", "crm", "--map", "id=customer_id", "--workspace", ws, "--json")
    assert code == 0, out
    assert _counts(out) == {"read": 3, "accepted": 0, "duplicates": 2, "rejected": 1}
    code, out = _run("ingest", "customers", "--sql", "crm", "--map", "id=customer_id", "--workspace", ws)
    assert code == 0 and "duplicates" in out and "SELECT * FROM crm" in out  # the human table


def test_url_json_with_header_and_records_key(ws):
    with LoopbackAPI() as api:
        events = [{"event_id": f"e{i}", "customer_id": "c1", "event_type": "view", "timestamp": 1_700_000_000 + i} for i in range(4)]
        api.route("/feed", Reply({"payload": events[:2], "next": "/feed?after=e1"}))
        api.route("/feed?after=e1", Reply({"payload": events[2:] + [42]}))
        code, out = _run("ingest", "events", "--url", api.url("/feed"), "--header", f"Authorization: Bearer {TOKEN}",
                         "--records-key", "payload", "--workspace", ws, "--json")
        assert code == 0, out
        assert _counts(out) == {"read": 5, "accepted": 4, "duplicates": 0, "rejected": 1}
        assert TOKEN not in out and all(r.headers.get("authorization") == f"Bearer {TOKEN}" for r in api.requests)
        assert TOKEN not in Path(json.loads(out)["quarantine"]).read_text(encoding="utf-8")
        code, out = _run("ingest", "events", "--url", api.url("/feed"), "--records-key", "payload", "--workspace", ws)
        assert code == 0 and "duplicates" in out and TOKEN not in out


def test_one_source_at_a_time_and_options_where_they_apply(ws, crm, tmp_path, capsys):
    f = tmp_path / "c.csv"
    f.write_text("customer_id\nc1\n", encoding="utf-8")
    cases = {
        ("customers", str(f), "--sql", "crm", "--db", crm): "one source at a time, got FILE and --sql",
        ("customers", "--sql", "crm", "--db", crm, "--url", "http://127.0.0.1:1/x"): "got --sql and --url",
        ("--adapter", "cdnow", str(f), "--url", "http://127.0.0.1:1/x"): "got --url and --adapter",
        ("customers", str(f), "--db", crm): "--db does not apply here",
        ("customers", str(f), "--header", "A: b", "--max-pages", "3"): "--header, --max-pages do not apply here",
        ("customers", "--sql", "crm", "--db", crm, "--format", "csv"): "--format does not apply here",
        ("customers", "--sql", "crm", "--db", crm, "--records-key", "data"): "--records-key does not apply here",
        ("customers", "--sql", "crm"): "--sql needs the database to read: --db URL",
        ("--sql", "crm", "--db", crm): "--sql needs an ENTITY",
        ("customers", "--url", "http://127.0.0.1:1/x", "--header", f"Bearer {TOKEN}"): "malformed --header number 1",
    }
    for args, needle in cases.items():
        code, err = _main(capsys, "ingest", *args, "--workspace", ws)
        assert code == 2, (args, err)
        assert needle in err and "Traceback" not in err and TOKEN not in err, (args, err)


def test_source_errors_are_one_line_with_their_exit_code(ws, crm, capsys):
    code, err = _main(capsys, "ingest", "customers", "--sql", "missing_table", "--db", crm, "--workspace", ws)
    assert code == 2 and "error[bad_source]: table 'missing_table' not found" in err and "tables there: crm" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) <= 3
    code, err = _main(capsys, "ingest", "customers", "--sql", "crm", "--db", "postgresql+psycopg://u:pw-x9z@127.0.0.1:1/db",
                      "--workspace", ws)
    assert code == 4 and "error[source_unavailable]: cannot connect" in err and "pw-x9z" not in err


def test_url_retries_and_timeout_options(ws, tmp_path, capsys):
    events = [{"event_id": "r1", "customer_id": "c1", "event_type": "view", "timestamp": 1_700_000_000}]
    with LoopbackAPI() as api:
        busy = Reply({"error": "busy"}, status=503, headers={"Retry-After": "0"})
        api.route("/flaky", busy, busy, Reply(events))
        code, err = _main(capsys, "ingest", "events", "--url", api.url("/flaky"), "--retries", "0", "--workspace", ws)
        assert code == 4 and "answered 503" in err and "1 time(s)" in err, err
        assert api.hits("/flaky") == 1
        code, out = _run("ingest", "events", "--url", api.url("/flaky"), "--retries", "1", "--timeout", "5",
                         "--workspace", ws, "--json")
        assert code == 0 and _counts(out)["accepted"] == 1, out
        assert api.hits("/flaky") == 3  # the second run met a 503 and retried it once
    f = tmp_path / "c.csv"
    f.write_text("customer_id\nc1\n", encoding="utf-8")
    code, err = _main(capsys, "ingest", "customers", str(f), "--timeout", "5", "--retries", "2", "--workspace", ws)
    assert code == 2 and "--timeout, --retries do not apply here" in err
