"""The SQLAlchemy store: one implementation for SQLite and PostgreSQL, quirks kept in one place."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pandas as pd
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from persona.config import Settings
from persona.errors import StoreError
from persona.store.models import Base

log = logging.getLogger(__name__)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def make_engine(url: str) -> Engine:
    """Create the engine for ``url`` with the settings each database needs."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)
    return engine


class Store:
    """Access to the workspace database. Cheap to create; share one per process."""

    def __init__(self, settings: Settings, engine: Engine | None = None) -> None:
        self.settings = settings
        self.engine = engine or make_engine(settings.url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: committed on success, rolled back on any error."""
        with self._sessions() as s:
            try:
                yield s
                s.commit()
            except OperationalError as exc:
                s.rollback()
                raise StoreError(f"database error: {exc.orig}", hint="check that the database is reachable") from exc
            except BaseException:
                s.rollback()
                raise

    def create_all(self) -> None:
        """Create every table from the models (tests only; workspaces use migrations)."""
        Base.metadata.create_all(self.engine)

    def read_frame(self, sql: str, params: dict[str, Any] | None = None) -> pd.DataFrame:
        """Run a SELECT and return a DataFrame."""
        with self.engine.connect() as conn:
            return pd.read_sql_query(text(sql), conn, params=params)

    def read_table(self, table: str, columns: list[str] | None = None) -> pd.DataFrame:
        """A whole table (or some columns) as a DataFrame."""
        cols = ", ".join(columns) if columns else "*"
        return self.read_frame(f"SELECT {cols} FROM {table}")  # noqa: S608 - table names are ours

    def count(self, table: str) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one())  # noqa: S608

    def dispose(self) -> None:
        self.engine.dispose()


def open_store(settings: Settings) -> Store:
    """Open the workspace's store (checking the schema version is done by ``check_schema``)."""
    return Store(settings)
