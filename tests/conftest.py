"""Shared fixtures: temporary workspaces on SQLite, and on the real PostgreSQL server (``-m postgres``)."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from persona.config import Settings, load_settings
from persona.store import Store

sys.path.insert(0, str(Path(__file__).resolve().parent))  # plain helper modules such as shop_fixtures

from shared_data import SHARED_DATA, shared_data  # noqa: E402,F401  (re-exported for older imports)

PG_ADMIN_URL = os.environ.get("PERSONA_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.delenv("PERSONA_DATABASE_URL", raising=False)
    monkeypatch.delenv("PERSONA_WORKSPACE", raising=False)
    return load_settings(tmp_path / "ws", progress=False)


@pytest.fixture
def workspace_shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Store, Settings]]:
    """An initialised SQLite workspace (no global holdout, no retry back-off) and its open store."""
    from persona.store import open_store
    from persona.store.workspace import init_workspace

    monkeypatch.delenv("PERSONA_WORKSPACE", raising=False)
    monkeypatch.delenv("PERSONA_DATABASE_URL", raising=False)
    settings = load_settings(tmp_path / "ws", progress=False, global_holdout=0.0, backoff_seconds=0.0)
    init_workspace(settings)
    store = open_store(settings)
    yield store, settings
    store.dispose()


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    settings.workspace.mkdir(parents=True, exist_ok=True)
    s = Store(settings)
    s.create_all()
    yield s
    s.dispose()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    sqlalchemy = pytest.importorskip("sqlalchemy")
    admin = sqlalchemy.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"persona_test_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as c:
            c.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except Exception as exc:  # noqa: BLE001
        if os.environ.get("CI"):
            raise
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc}")
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    yield url
    with admin.connect() as c:
        c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_store(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    """The same test on SQLite and on PostgreSQL."""
    url = request.getfixturevalue("pg_url") if request.param == "postgres" else None
    yield from _store_at(tmp_path, url, monkeypatch)


@pytest.fixture
def pg_store(pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    """A store on a fresh PostgreSQL database (for PostgreSQL-only paths; mark the test ``postgres``)."""
    yield from _store_at(tmp_path, pg_url, monkeypatch)


def _store_at(tmp_path: Path, url: str | None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    monkeypatch.delenv("PERSONA_WORKSPACE", raising=False)
    st = load_settings(tmp_path / "ws", database_url=url, progress=False)
    st.workspace.mkdir(parents=True, exist_ok=True)
    s = Store(st)
    s.create_all()
    yield s
    s.dispose()
