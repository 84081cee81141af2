"""The workspace database URL is checked where the engine is made (parse, SQLite/PostgreSQL, driver) and where the
store is opened (connect): each failure is one PersonaError naming the cause and where the URL is set."""

from __future__ import annotations

import importlib.util
import sqlite3

import pytest
from sqlalchemy.exc import OperationalError

from persona.config import load_settings
from persona.errors import ConfigError, StoreError
from persona.store import open_store
from persona.store.sql import database_error, make_engine
from persona.store.workspace import init_workspace

UNREACHABLE_PG = "postgresql+psycopg://nobody:s3cret@127.0.0.1:1/persona"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for var in ("PERSONA_WORKSPACE", "PERSONA_DATABASE_URL", "PERSONA_SECRET_KEY"):
        monkeypatch.delenv(var, raising=False)


@pytest.mark.parametrize(("url", "needle"), [
    ("notaurl", "cannot parse the database URL (it starts without a scheme:// prefix)"),
    ("mysql://me@localhost/shop", "names 'mysql': Persona's database must be SQLite or PostgreSQL"),
    ("postgres://me@localhost/shop", "names 'postgres'"),
    ("nosuchdb+x://a/b", "names 'nosuchdb'"),
])
def test_make_engine_refuses_unusable_urls(url, needle):
    with pytest.raises(ConfigError) as ei:
        make_engine(url)
    assert needle in str(ei.value) and "\n" not in str(ei.value)


def test_the_error_names_where_the_url_is_set(tmp_path, monkeypatch):
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "config.toml").write_text('[persona]\ndatabase_url = "notaurl"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"from database_url of .*config\.toml.*persona init --workspace .* --database-url"):
        open_store(load_settings(ws))
    monkeypatch.setenv("PERSONA_DATABASE_URL", "mysql://me@localhost/shop")
    with pytest.raises(ConfigError, match=r"URL from PERSONA_DATABASE_URL names 'mysql'.*fix PERSONA_DATABASE_URL"):
        open_store(load_settings(ws))


@pytest.mark.skipif(importlib.util.find_spec("psycopg2") is not None or importlib.util.find_spec("psycopg") is None,
                    reason="needs psycopg 3 without psycopg2")
def test_plain_postgresql_url_uses_psycopg3():
    engine = make_engine("postgresql://me@localhost/shop")
    assert engine.dialect.driver == "psycopg"
    engine.dispose()


def test_init_with_an_unreachable_database_writes_nothing(tmp_path):
    settings = load_settings(tmp_path / "ws", database_url=UNREACHABLE_PG)
    with pytest.raises(StoreError) as ei:
        init_workspace(settings)
    msg = str(ei.value)
    assert "cannot connect to the database postgresql+psycopg://nobody:***@127.0.0.1:1/persona" in msg
    assert "s3cret" not in msg and "\n" not in msg
    assert not settings.workspace.exists()


def test_init_with_a_sqlite_file_in_a_missing_folder_writes_nothing(tmp_path):
    settings = load_settings(tmp_path / "ws", database_url=f"sqlite:///{tmp_path / 'nope' / 'x.db'}")
    with pytest.raises(ConfigError, match=r"its folder .*nope does not exist"):
        init_workspace(settings)
    assert not settings.workspace.exists()


def test_open_store_on_an_unreachable_database_is_one_line(tmp_path, monkeypatch):
    ws = tmp_path / "ws"
    init_workspace(load_settings(ws))
    monkeypatch.setenv("PERSONA_DATABASE_URL", UNREACHABLE_PG)
    with pytest.raises(StoreError) as ei:
        open_store(load_settings(ws))
    assert "Connection refused" in str(ei.value) and "\n" not in str(ei.value)


def _readonly_error(name: str, text: str = "attempt to write a readonly database") -> OperationalError:
    orig = sqlite3.OperationalError(text)
    orig.sqlite_errorname = name
    return OperationalError("SELECT 1", {}, orig)


def test_a_read_only_sqlite_folder_is_named(tmp_path):
    db = tmp_path / "ws" / "persona.db"
    err = database_error(_readonly_error("SQLITE_READONLY_DIRECTORY"), f"sqlite:///{db}")
    assert isinstance(err, ConfigError)
    assert err.message == f"the database file {db} is not writable (its folder {db.parent} is read-only)"
    assert f"chmod u+w {db.parent}" in (err.hint or "")
    # a statement failing on an open connection: the same cause, not "check that the database is reachable"
    err = database_error(_readonly_error("SQLITE_READONLY"), f"sqlite:///{db}", connecting=False)
    assert isinstance(err, ConfigError) and "is not writable" in err.message


def test_other_failures_keep_the_database_message(tmp_path):
    err = database_error(_readonly_error("SQLITE_ERROR", "no such table: x\nmore"), f"sqlite:///{tmp_path / 'x.db'}",
                         connecting=False)
    assert isinstance(err, StoreError) and err.message == "database error: no such table: x"
