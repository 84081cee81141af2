"""CLI: init, db status/upgrade, ingest (--json), and one-line errors with non-zero exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from persona.cli.main import app
from persona.store.migrate import head_revision

runner = CliRunner()



def _run(*args: str) -> tuple[int, str]:
    res = runner.invoke(app, list(args))
    return res.exit_code, res.output


def _persona(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "persona.cli.main", *args], capture_output=True, text=True, timeout=120)


def _main(capsys, *args: str) -> tuple[int, str]:
    """Run the real entry point in-process: exit code and stderr."""
    from persona.cli.main import main

    with pytest.raises(SystemExit) as ei:
        main(list(args))
    return int(ei.value.code or 0), capsys.readouterr().err


def test_init_db_status_upgrade_and_ingest(tmp_path, capsys):
    ws = tmp_path / "ws"
    code, out = _run("init", "--workspace", str(ws), "--json")
    assert code == 0, out
    info = json.loads(out)
    assert info["revision"] == head_revision() and info["key_created"] and (ws / "config.toml").is_file()
    assert (ws / "secret.key").stat().st_mode & 0o777 == 0o600
    key = (ws / "secret.key").read_bytes()
    code, out = _run("init", "--workspace", str(ws), "--json")
    assert code == 0 and json.loads(out)["key_created"] is False and (ws / "secret.key").read_bytes() == key

    code, out = _run("db", "status", "--workspace", str(ws), "--json")
    assert code == 0 and json.loads(out)["state"] == "ok"

    f = tmp_path / "events.csv"
    f.write_text("uid,event_type,timestamp\nu1,view,2020-01-01\nu1,view,oops\n", encoding="utf-8")
    code, out = _run("ingest", "events", str(f), "--map", "uid=customer_id", "--workspace", str(ws), "--json")
    assert code == 0, out
    rep = json.loads(out)
    assert {k: rep[k] for k in ("read", "accepted", "duplicates", "rejected")} == {"read": 2, "accepted": 1, "duplicates": 0, "rejected": 1}
    assert Path(rep["quarantine"]).is_file()
    code, out = _run("ingest", "events", str(f), "--map", "uid=customer_id", "--workspace", str(ws))
    assert code == 0 and "duplicates" in out  # the human table

    engine = create_engine(f"sqlite:///{ws / 'persona.db'}")
    with engine.begin() as c:
        c.execute(text("DELETE FROM alembic_version"))
    engine.dispose()
    code, err = _main(capsys, "ingest", "events", str(f), "--map", "uid=customer_id", "--workspace", str(ws))
    assert code == 4 and "persona db upgrade" in err and "Traceback" not in err
    code, out = _run("db", "upgrade", "--workspace", str(ws), "--json")
    assert code == 0 and json.loads(out)["to"] == head_revision()


def test_errors_are_one_line(tmp_path, capsys):
    ws = tmp_path / "ws"
    p = _persona("ingest", "events", str(tmp_path / "x.csv"), "--workspace", str(ws))  # the real console script path
    assert p.returncode == 2 and "persona init" in p.stderr and "Traceback" not in p.stderr
    assert _main(capsys, "init", "--workspace", str(ws))[0] == 0
    cases = {
        ("ingest", "events", str(tmp_path / "missing.csv")): "not found",
        ("ingest", "orders", str(tmp_path / "missing.csv")): "unknown entity",
        ("ingest", "events", str(tmp_path / "x.csv"), "--map", "oops"): "malformed --map",
        ("ingest", "events"): "needs an ENTITY and a FILE",
    }
    for args, needle in cases.items():
        code, err = _main(capsys, *args, "--workspace", str(ws))
        assert code == 2, (args, err)
        assert needle in err and "Traceback" not in err, err
        assert len(err.strip().splitlines()) <= 3
    (tmp_path / "passwd.csv").write_text("root:x:0:0:root\ndaemon:x:1:1:daemon\n", encoding="utf-8")  # no emoji made of the user's text
    code, err = _main(capsys, "ingest", "events", str(tmp_path / "passwd.csv"), "--workspace", str(ws))
    assert code == 2 and "root:x:0:0:root" in err and "\u274c" not in err, err


@pytest.mark.postgres
def test_init_on_postgres(tmp_path, pg_url):
    ws = tmp_path / "ws"
    code, out = _run("init", "--workspace", str(ws), "--database-url", pg_url, "--json")
    assert code == 0, out
    assert "database_url" in (ws / "config.toml").read_text()
    code, out = _run("db", "status", "--workspace", str(ws), "--json")
    assert code == 0 and json.loads(out)["current"] == head_revision()


def test_ingest_adapter_cli(tmp_path):
    from shared_data import shared_data

    sample = shared_data("cdnow", "CDNOW_sample.txt")
    ws = tmp_path / "ws"
    assert _run("init", "--workspace", str(ws))[0] == 0
    code, out = _run("ingest", "--adapter", "cdnow", str(sample), "--workspace", str(ws), "--json")
    assert code == 0, out
    res = json.loads(out)
    assert res["read"] == res["accepted"] + res["duplicates"] + res["rejected"] and res["entities"]["events"]["accepted"] > 0
    code, out = _run("ingest", "events", "--adapter", "cdnow", str(sample), "--workspace", str(ws))
    assert code != 0
