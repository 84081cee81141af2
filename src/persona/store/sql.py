"""The SQLAlchemy store: one implementation for SQLite and PostgreSQL, quirks kept in one place."""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from persona.config import Settings
from persona.errors import StoreError
from persona.jsonvalues import dumps
from persona.store.bulk import BulkWriter, OnConflict
from persona.store.integrity import raise_constraint_errors
from persona.store.models import TABLES, Base

log = logging.getLogger(__name__)

SQLITE_PAGE_SIZE = 16384


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # New databases only (an existing file keeps its page size): 16 KiB pages make bulk loads and index
    # builds ~20% cheaper in CPU than the 4 KiB default (fewer B-tree pages, splits and cells to move).
    cur.execute(f"PRAGMA page_size={SQLITE_PAGE_SIZE}")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA secure_delete=ON")  # erased data is overwritten, not left in free pages
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA cache_size=-131072")  # up to 128 MiB of page cache: index upkeep in bulk loads stays in memory
    cur.execute("PRAGMA threads=2")  # CREATE INDEX after a bulk load sorts with a helper thread
    cur.close()


def make_engine(url: str) -> Engine:
    """Create the engine for ``url`` with the settings each database needs.

    JSON columns written through SQLAlchemy use the bulk writer's encoder: numpy numbers stay numbers, NaN is null.
    A statement the database refuses for a constraint raises :class:`~persona.errors.ConstraintError`, whatever the
    write path (see :func:`~persona.store.integrity.raise_constraint_errors`).
    """
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30}, json_serializer=dumps)
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10, json_serializer=dumps)
        if engine.dialect.name == "postgresql":
            event.listen(engine, "connect", _pg_session_settings)
    return raise_constraint_errors(engine)


def _pg_session_settings(dbapi_conn: Any, _record: Any) -> None:
    # Bulk loads stage chunks in temp tables: keep them in memory (only settable before a session's first temp table).
    with dbapi_conn.cursor() as cur:
        cur.execute("SET temp_buffers = '128MB'")
    dbapi_conn.commit()


class Store:
    """Access to the workspace database. Cheap to create; share one per process."""

    def __init__(self, settings: Settings, engine: Engine | None = None) -> None:
        self.settings = settings
        self.engine = raise_constraint_errors(engine) if engine is not None else make_engine(settings.url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self, conn: Connection | None = None) -> Iterator[Session]:
        """A transaction: committed on success, rolled back on any error.

        Args:
            conn: a connection the caller holds out of the pool (for what must happen on it, e.g. taking a session
                lock in the same transaction); default a pooled one for the transaction's duration.

        Raises:
            ConstraintError: the database refused a row (NOT NULL, CHECK, UNIQUE, FOREIGN KEY); nothing was written.
            StoreError: the database cannot be reached.
        """
        with Session(conn, expire_on_commit=False) if conn is not None else self._sessions() as s:
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

    @contextmanager
    def bulk(self) -> Iterator[BulkWriter]:
        """One transaction for bulk writes (COPY on PostgreSQL, executemany on SQLite); all or nothing."""
        try:
            with self.engine.begin() as conn:
                yield BulkWriter(conn)
        except OperationalError as exc:
            raise StoreError(f"database error: {exc.orig}", hint="check that the database is reachable") from exc

    def bulk_insert(
        self,
        table: str,
        rows: pd.DataFrame | Sequence[Mapping[str, Any]],
        on_conflict: OnConflict = "ignore",
        key: Sequence[str] | None = None,
        change_column: str | None = None,
    ) -> int:
        """Insert many rows in one transaction by the fastest path of the database.

        Args:
            table: table name, e.g. ``events``.
            rows: a DataFrame or mappings keyed by column name.
            on_conflict: ``ignore`` duplicates on ``key``, ``update`` them (upsert), or ``error``.
            key: unique columns defining a duplicate (default: the primary key).
            change_column: for upserts, only rows whose value in this column changed are rewritten.

        Returns:
            Rows inserted (plus rows changed, for upserts).
        """
        with self.bulk() as writer:
            return writer.insert(table, rows, on_conflict=on_conflict, key=key, change_column=change_column)

    def insert_ignore(self, table: str, rows: Sequence[Mapping[str, Any]], key: Sequence[str] | None = None) -> int:
        """Insert rows, skipping those that duplicate ``key``; returns how many were new."""
        return self.bulk_insert(table, rows, on_conflict="ignore", key=key)

    def estimated_rows(self, table: str) -> int:
        """A cheap estimate of a table's row count (planner statistics on PostgreSQL, max rowid on SQLite)."""
        with self.engine.connect() as conn:
            if self.dialect == "postgresql":
                v = conn.execute(text("SELECT reltuples FROM pg_class WHERE relname = :t"), {"t": table}).scalar()
                return max(int(v or 0), 0)
            if self.dialect == "sqlite":
                return int(conn.execute(text(f"SELECT COALESCE(MAX(rowid), 0) FROM {table}")).scalar() or 0)  # noqa: S608
        return self.count(table)

    def is_empty(self, table: str) -> bool:
        """Whether the table holds no rows (one index probe, whatever its size)."""
        with self.engine.connect() as conn:
            return not conn.execute(text(f"SELECT EXISTS (SELECT 1 FROM {table})")).scalar()  # noqa: S608 - our table

    def ensure_indexes(self, table: str | None = None) -> int:
        """Create any index of the models that is missing (e.g. after a bulk load was killed); returns how many."""
        tables = [TABLES[table]] if table else list(TABLES.values())
        created = 0
        with self.engine.begin() as conn:
            if self.dialect == "postgresql":
                conn.execute(text("SET LOCAL maintenance_work_mem = '256MB'"))  # index builds sort in memory
            existing = {ix["name"] for t in tables for ix in inspect(conn).get_indexes(t.name)}
            for t in tables:
                for ix in t.indexes:
                    if ix.name not in existing:
                        ix.create(conn)
                        created += 1
        return created

    @contextmanager
    def deferred_indexes(self, table: str, keep: Collection[str] = ()) -> Iterator[None]:
        """Drop a table's non-unique indexes for a large load and rebuild them afterwards (also on error).

        Unique indexes stay, so de-duplication keeps working; building an index once by sorting is
        much faster than maintaining it row by row. ``keep`` names indexes that stay anyway (cheap to
        maintain). A killed process leaves them missing: :meth:`ensure_indexes` (run at the start of
        every ingestion) puts them back.
        """
        t = TABLES[table]
        with self.engine.begin() as conn:
            for ix in t.indexes:
                if not ix.unique and ix.name not in keep:
                    ix.drop(conn, checkfirst=True)
        try:
            yield
        finally:
            self.ensure_indexes(table)

    def check_schema(self) -> None:
        """Refuse a database whose schema is not this version's head revision.

        Raises:
            SchemaOutOfDateError: naming ``persona db upgrade --workspace …`` (or a Persona upgrade).
        """
        from persona.store.migrate import check_schema

        check_schema(self.engine, self.settings.workspace)

    def count(self, table: str) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one())  # noqa: S608

    def dispose(self) -> None:
        self.engine.dispose()


def open_store(settings: Settings, *, check: bool = True) -> Store:
    """Open the workspace's store, refusing a missing workspace or an out-of-date schema.

    Args:
        settings: the workspace settings.
        check: verify the workspace exists and the schema is at head (default).

    Raises:
        WorkspaceNotFoundError: ``persona init`` has not been run for this workspace.
        SchemaOutOfDateError: the database needs ``persona db upgrade``.
    """
    if check:
        from persona.store.workspace import require_workspace

        require_workspace(settings)
    store = Store(settings)
    if check:
        try:
            store.check_schema()
        except BaseException:
            store.dispose()
            raise
    return store
