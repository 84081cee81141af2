"""CLI: a bad database URL (unparsable, unsupported, driver missing, unreachable) or a read-only workspace gives one
line naming the cause and its fix, never a traceback; `persona init` writes nothing before the database works."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys

import pytest

from persona.cli.main import main

#: a port nothing listens on: the connection is refused at once
UNREACHABLE_PG = "postgresql+psycopg://nobody@127.0.0.1:1/persona"


def _main(capsys, *args: str) -> tuple[int, str]:
    """Run the real entry point in-process: exit code and stderr."""
    with pytest.raises(SystemExit) as ei:
        main(list(args))
    return int(ei.value.code or 0), capsys.readouterr().err


def _one_line_error(err: str, code: str) -> None:
    assert "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"error[{code}]: "), err


BAD_URLS = {
    "notaurl": (2, "config", "cannot parse the database URL from --database-url"),
    "mysql://me@localhost/shop": (2, "config", "must be SQLite or PostgreSQL"),
    "foo://x/y": (2, "config", "must be SQLite or PostgreSQL"),
    "sqlite:////nonexistent-persona-dir/x.db": (2, "config", "its folder /nonexistent-persona-dir does not exist"),
    UNREACHABLE_PG: (4, "store", "cannot connect to the database postgresql+psycopg://nobody@127.0.0.1:1/persona"),
    "postgresql://nobody@127.0.0.1:1/persona": (4, "store", "Connection refused"),  # plain postgresql:// uses psycopg 3
}


@pytest.mark.parametrize("url", list(BAD_URLS))
def test_init_refuses_a_bad_url_before_writing_anything(tmp_path, capsys, url):
    exit_code, code, needle = BAD_URLS[url]
    ws = tmp_path / "ws"
    got, err = _main(capsys, "init", "--workspace", str(ws), "--database-url", url)
    assert got == exit_code, err
    _one_line_error(err, code)
    assert needle in err and "--database-url" in err, err
    assert not ws.exists()  # no config.toml naming the bad URL, no key file, no folder


@pytest.mark.skipif(importlib.util.find_spec("psycopg2") is not None, reason="psycopg2 is installed here")
def test_init_names_a_driver_that_is_not_installed(tmp_path, capsys):
    ws = tmp_path / "ws"
    got, err = _main(capsys, "init", "--workspace", str(ws), "--database-url", "postgresql+psycopg2://me@localhost/shop")
    assert got == 2
    _one_line_error(err, "config")
    assert "'psycopg2'" in err and "not installed" in err and not ws.exists()


def test_password_is_not_shown(tmp_path, capsys):
    got, err = _main(capsys, "init", "--workspace", str(tmp_path / "ws"), "--database-url",
                     "postgresql+psycopg://me:hunter2@127.0.0.1:1/shop")
    assert got == 4 and "hunter2" not in err, err


def test_a_bad_url_in_config_is_named_and_init_replaces_it(tmp_path, capsys):
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "config.toml").write_text('[persona]\ndatabase_url = "notaurl"\nseed = 42\n', encoding="utf-8")
    for args in (("init",), ("models", "list"), ("db", "status")):
        got, err = _main(capsys, *args, "--workspace", str(ws))
        assert got == 2, (args, err)
        _one_line_error(err, "config")
        assert f"database_url of {ws / 'config.toml'}" in err and f"persona init --workspace {ws} --database-url" in err
    assert not (ws / "secret.key").exists()

    good = f"sqlite:///{ws / 'persona.db'}"
    assert _main(capsys, "init", "--workspace", str(ws), "--database-url", good)[0] == 0
    assert f'database_url = "{good}"' in (ws / "config.toml").read_text(encoding="utf-8")
    assert _main(capsys, "models", "list", "--workspace", str(ws))[0] == 0


def test_init_rerun_with_an_unreachable_url_keeps_the_working_config(tmp_path, capsys):
    ws = tmp_path / "ws"
    assert _main(capsys, "init", "--workspace", str(ws))[0] == 0
    before = (ws / "config.toml").read_text(encoding="utf-8")
    got, err = _main(capsys, "init", "--workspace", str(ws), "--database-url", UNREACHABLE_PG)
    assert got == 4
    _one_line_error(err, "store")
    assert (ws / "config.toml").read_text(encoding="utf-8") == before
    assert _main(capsys, "models", "list", "--workspace", str(ws))[0] == 0


@pytest.mark.parametrize(("url", "exit_code", "code"), [("notaurl", 2, "config"), ("mysql://me@localhost/shop", 2, "config"),
                                                        (UNREACHABLE_PG, 4, "store")])
@pytest.mark.parametrize("command", [("models", "list"), ("db", "status"), ("db", "upgrade"), ("profiles", "show", "c1")])
def test_env_url_on_a_healthy_workspace(tmp_path, capsys, monkeypatch, url, exit_code, code, command):
    ws = tmp_path / "ws"
    assert _main(capsys, "init", "--workspace", str(ws))[0] == 0
    monkeypatch.setenv("PERSONA_DATABASE_URL", url)
    got, err = _main(capsys, *command, "--workspace", str(ws))
    assert got == exit_code, err
    _one_line_error(err, code)
    assert "PERSONA_DATABASE_URL" in err


def _without_root_powers() -> list[str] | None:
    """A command prefix under which file permissions bind (root ignores them): none needed for other users, setpriv
    dropping the capabilities that override them for root; None where neither works."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    prefix = [setpriv, "--bounding-set", "-dac_override,-dac_read_search,-fowner", "--"]
    probe = subprocess.run([*prefix, sys.executable, "-c", "import os; open('/proc/1/environ').read()"],
                           capture_output=True, timeout=30)
    return prefix if probe.returncode != 0 else None  # reading root's private file must now fail


def test_a_read_only_workspace_names_the_cause(tmp_path, capsys):
    prefix = _without_root_powers()
    if prefix is None:
        pytest.skip("cannot make file permissions bind here (running as root without setpriv)")
    ws = tmp_path / "ws"
    assert _main(capsys, "init", "--workspace", str(ws))[0] == 0
    modes = {p: p.stat().st_mode for p in [ws, *ws.iterdir()]}
    for p in modes:
        p.chmod(modes[p] & ~0o222)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PERSONA_")} | {"PERSONA_PROGRESS": "false"}
    try:
        for args in (("models", "list"), ("db", "status"), ("init",)):
            p = subprocess.run([*prefix, sys.executable, "-m", "persona.cli.main", *args, "--workspace", str(ws)],
                               capture_output=True, text=True, timeout=120, env=env)
            assert p.returncode == 2, (args, p.stderr)
            _one_line_error(p.stderr, "config")
            assert f"the database file {ws / 'persona.db'} is not writable (its folder {ws} is read-only)" in p.stderr
            assert "chmod u+w" in p.stderr and "database server" not in p.stderr
    finally:
        for p, mode in modes.items():
            p.chmod(mode)
