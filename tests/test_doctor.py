"""``persona doctor``: every check's ok, warn and fail, on real workspaces (SQLite, the local Redis server)."""

from __future__ import annotations

import json
import os
import socket

import pytest
from typer.testing import CliRunner

from persona.cli.main import app
from persona.config import load_settings
from persona.doctor import diagnose
from persona.privacy.crypto import generate_key
from persona.store import init_workspace, open_store

runner = CliRunner()


@pytest.fixture
def ws(tmp_path, monkeypatch):
    for var in ("PERSONA_WORKSPACE", "PERSONA_DATABASE_URL", "PERSONA_SECRET_KEY", "PERSONA_REDIS_URL", "PERSONA_ENGINE"):
        monkeypatch.delenv(var, raising=False)
    settings = load_settings(tmp_path / "ws", progress=False)
    init_workspace(settings)
    return settings


def _by_name(settings) -> dict[str, tuple[str, str | None]]:
    return {c.name: (c.status, c.fix) for c in diagnose(load_settings(settings.workspace, progress=False))}


def _with_a_customer(settings) -> None:
    from persona.ingest import ingest_file

    path = settings.workspace.parent / "customers.csv"
    path.write_text("customer_id,email\nc1,ann@example.com\n", encoding="utf-8")
    store = open_store(settings)
    try:
        ingest_file(store, "customers", path)
    finally:
        store.dispose()


def test_a_healthy_workspace_passes_every_check(ws):
    _with_a_customer(ws)
    checks = _by_name(ws)
    assert {n: s for n, (s, _) in checks.items()} == {
        "workspace": "ok", "database": "ok", "key": "ok", "key opens the data": "ok", "sources": "ok", "engine": "ok",
        "redis": "ok", "disk": "ok"}
    res = runner.invoke(app, ["doctor", "--workspace", str(ws.workspace), "--json"])
    assert res.exit_code == 0 and {c["status"] for c in json.loads(res.stdout)} == {"ok"}


def test_no_workspace_is_one_failed_check_and_exit_1(tmp_path):
    res = runner.invoke(app, ["doctor", "--workspace", str(tmp_path / "none"), "--json"])
    assert res.exit_code == 1
    (only,) = json.loads(res.stdout)
    assert only["name"] == "workspace" and only["status"] == "fail" and "persona init" in only["fix"]
    assert not (tmp_path / "none").exists()  # the doctor creates nothing


def test_key_problems(ws, monkeypatch):
    _with_a_customer(ws)
    os.chmod(ws.key_path, 0o644)
    status, fix = _by_name(ws)["key"]
    assert status == "warn" and fix == f"chmod 600 {ws.key_path}"
    os.chmod(ws.key_path, 0o600)
    monkeypatch.setenv("PERSONA_SECRET_KEY", generate_key())  # another key than the data's
    status, fix = _by_name(ws)["key opens the data"]
    assert status == "fail" and "secret.key.old" in fix
    monkeypatch.delenv("PERSONA_SECRET_KEY")
    (ws.workspace / "secret.key.next").write_text(generate_key() + "\n", encoding="ascii")
    status, fix = _by_name(ws)["key"]
    assert status == "fail" and fix == "run `persona privacy rotate-key --resume`"
    res = runner.invoke(app, ["doctor", "--workspace", str(ws.workspace)])
    assert res.exit_code == 1 and "Traceback" not in res.output


def test_database_behind_or_unreachable(ws, tmp_path, monkeypatch):
    monkeypatch.setenv("PERSONA_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    status, fix = _by_name(ws)["database"]
    assert status == "fail" and "persona init" in fix
    checks = _by_name(ws)
    assert "key opens the data" not in checks  # needs the store: not run


@pytest.mark.parametrize("url", ["notaurl", "notaurl:hunter2@db/shop", "::hunter2"])
def test_unparsable_database_url_is_not_echoed(ws, monkeypatch, url):
    """The database line started with the raw URL ("notaurl: cannot parse…"), which may hold a password."""
    monkeypatch.setenv("PERSONA_DATABASE_URL", url)
    check = next(c for c in diagnose(load_settings(ws.workspace, progress=False)) if c.name == "database")
    assert check.status == "fail"
    assert check.detail.startswith("cannot parse the database URL from PERSONA_DATABASE_URL"), check.detail
    assert url not in check.detail and "hunter2" not in check.detail
    res = runner.invoke(app, ["doctor", "--workspace", str(ws.workspace), "--json"])
    assert res.exit_code == 1 and "hunter2" not in res.output and "Traceback" not in res.output


def test_unreachable_database_is_named_once_without_its_password(ws, monkeypatch):
    monkeypatch.setenv("PERSONA_DATABASE_URL", f"sqlite:///{ws.workspace / 'no' / 'such' / 'x.db'}")
    check = next(c for c in diagnose(load_settings(ws.workspace, progress=False)) if c.name == "database")
    assert check.status == "fail" and check.detail.startswith("sqlite:///") and "does not exist" in check.detail


def test_sources_need_their_environment(ws, monkeypatch):
    monkeypatch.delenv("DOCTOR_DB", raising=False)
    cfg = ws.config_path
    cfg.write_text(cfg.read_text(encoding="utf-8") + '\n[sources.crm]\nentity = "customers"\nsql = "crm"\ndb_env = "DOCTOR_DB"\n'
                   '\n[sources.pw]\nentity = "products"\nsql = "p"\ndb = "postgresql://me:hunter2@db/shop"\n', encoding="utf-8")
    checks = _by_name(ws)
    assert checks["source crm"] == ("fail", "export DOCTOR_DB=… in the environment that runs persona sync / persona run")
    assert checks["source pw"][0] == "warn"
    monkeypatch.setenv("DOCTOR_DB", "sqlite:///x.db")
    assert _by_name(ws)["source crm"][0] == "ok"
    res = runner.invoke(app, ["doctor", "--workspace", str(ws.workspace), "--json"])
    assert "hunter2" not in res.output
    cfg.write_text(cfg.read_text(encoding="utf-8") + "\n[sources.bad]\nentity = 'orders'\n", encoding="utf-8")
    assert _by_name(ws)["sources"][0] == "fail"


def _redis_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
        return True
    except OSError:
        return False


def test_redis_answers_or_not(ws, monkeypatch):
    pytest.importorskip("redis")
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    monkeypatch.setenv("PERSONA_REDIS_URL", f"redis://:pw-7f3e9a@127.0.0.1:{free}/0")
    status, fix = _by_name(ws)["redis"]
    assert status == "fail" and "unset PERSONA_REDIS_URL" in fix
    res = runner.invoke(app, ["doctor", "--workspace", str(ws.workspace), "--json"])
    assert "pw-7f3e9a" not in res.output  # the password is never shown
    if _redis_up() or os.environ.get("CI"):
        monkeypatch.setenv("PERSONA_REDIS_URL", "redis://127.0.0.1:6379/0")
        assert _by_name(ws)["redis"][0] == "ok"
