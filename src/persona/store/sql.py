"""The SQLAlchemy store: one implementation for SQLite and PostgreSQL, quirks kept in one place."""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import tomllib
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import URL, Connection, Engine, create_engine, event, inspect, make_url, text
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from persona.config import Settings
from persona.errors import ConfigError, PersonaError, StoreError
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


def make_engine(url: str | URL, *, settings: Settings | None = None) -> Engine:
    """Create the engine for ``url`` with the settings each database needs (connects only when first used).

    JSON columns written through SQLAlchemy use the bulk writer's encoder: numpy numbers stay numbers, NaN is null.
    A statement the database refuses for a constraint raises :class:`~persona.errors.ConstraintError`, whatever the
    write path (see :func:`~persona.store.integrity.raise_constraint_errors`).

    Args:
        url: the database URL (``settings.url``).
        settings: the workspace's settings, to name where a bad URL is set (``PERSONA_DATABASE_URL``, ``config.toml``).

    Raises:
        ConfigError: the URL cannot be parsed, names a database other than SQLite or PostgreSQL, or a driver that is
            not installed.
    """
    parsed = parse_database_url(url, settings=settings)
    try:
        if parsed.get_backend_name() == "sqlite":
            engine = create_engine(parsed, connect_args={"timeout": 30}, json_serializer=dumps)
            event.listen(engine, "connect", _sqlite_pragmas)
        else:
            connect_args = {} if "connect_timeout" in parsed.query else {"connect_timeout": PG_CONNECT_TIMEOUT_S}
            engine = create_engine(parsed, pool_pre_ping=True, pool_size=5, max_overflow=10, json_serializer=dumps,
                                   connect_args=connect_args)
            event.listen(engine, "connect", _pg_session_settings)
    except NoSuchModuleError:
        where, fix = _url_source(settings)
        raise ConfigError(f"the database URL{_in(where)} names an unknown driver {parsed.drivername!r}",
                          hint=f"{fix}; {URL_HINT}") from None
    except ImportError as exc:
        where, fix = _url_source(settings)
        missing = getattr(exc, "name", None) or str(exc)
        raise ConfigError(f"the Python module {missing!r} that the database URL{_in(where)} ({parsed.drivername}://) "
                          "needs is not installed", hint=f"install it, or {fix}; {URL_HINT}") from None
    except (ArgumentError, TypeError, ValueError) as exc:
        where, fix = _url_source(settings)
        raise ConfigError(f"cannot use the database URL{_in(where)}: {_first_line(exc)}", hint=f"{fix}; {URL_HINT}") from None
    return raise_constraint_errors(engine)


#: the databases Persona's store runs on (migrations, bulk loads and upserts are written for these two)
SUPPORTED_BACKENDS = ("sqlite", "postgresql")
#: seconds a connection to PostgreSQL may take before it counts as unreachable (unless the URL sets connect_timeout)
PG_CONNECT_TIMEOUT_S = 10
URL_HINT = "write it as postgresql+psycopg://user:password@host:port/database or sqlite:////absolute/path/persona.db"
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")


def parse_database_url(url: str | URL, *, settings: Settings | None = None) -> URL:
    """``url`` parsed and checked without connecting: SQLite or PostgreSQL, a plain ``postgresql://`` read as
    ``postgresql+psycopg://`` where only psycopg 3 is installed.

    Raises:
        ConfigError: naming where the URL is set and how to write one.
    """
    if isinstance(url, URL):
        parsed = url
    else:
        try:
            parsed = make_url(str(url).strip())
        except (ArgumentError, ValueError):
            where, fix = _url_source(settings)
            m = _SCHEME.match(str(url).strip())
            starts = repr(m.group(0)) if m else "without a scheme:// prefix"
            raise ConfigError(f"cannot parse the database URL{_in(where)} (it starts {starts})",
                              hint=f"{fix}; {URL_HINT}") from None
    backend = parsed.get_backend_name()
    if backend not in SUPPORTED_BACKENDS:
        where, fix = _url_source(settings)
        raise ConfigError(f"the database URL{_in(where)} names {backend!r}: Persona's database must be SQLite or PostgreSQL",
                          hint=f"{fix}; {URL_HINT}")
    if parsed.drivername == "postgresql" and not _importable("psycopg2") and _importable("psycopg"):
        parsed = parsed.set(drivername="postgresql+psycopg")  # the plain URL asks for psycopg2; psycopg 3 is installed
    return parsed


def _importable(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _url_source(settings: Settings | None) -> tuple[str, str]:
    """Where the database URL in force is set, and how a user fixes it there: ``(where, fix)``."""
    if settings is None:
        return "", "check PERSONA_DATABASE_URL and database_url in the workspace's config.toml"
    ws = settings.workspace
    if not settings.database_url:
        return "", f"check the workspace folder {ws}"
    env = os.environ.get("PERSONA_DATABASE_URL")
    if env and env == settings.database_url:
        return "PERSONA_DATABASE_URL", "fix PERSONA_DATABASE_URL, or unset it to use the database the workspace's config.toml names"
    if _configured_url(settings) == settings.database_url:
        return (f"database_url of {settings.config_path}",
                f"fix it with `persona init --workspace {ws} --database-url URL` (or delete that line of "
                f"{settings.config_path.name} to use the SQLite file in the workspace)")
    return "--database-url", "pass a working --database-url"


def _in(where: str, before: str = " from ", after: str = "") -> str:
    return f"{before}{where}{after}" if where else ""


def _configured_url(settings: Settings) -> str | None:
    try:
        return tomllib.loads(settings.config_path.read_text(encoding="utf-8")).get("persona", {}).get("database_url")
    except (OSError, ValueError):
        return None


def _first_line(exc: BaseException, secret: str | None = None) -> str:
    """An error's own message, first line, without the password."""
    orig = getattr(exc, "orig", None) or exc
    lines = [s.strip() for s in str(orig).strip().splitlines() if s.strip()]
    text_ = lines[0] if lines else type(orig).__name__
    return (text_.replace(secret, "***") if secret else text_)[:500]


def shown_url(url: str | URL) -> str:
    """The URL as errors show it: without the password."""
    try:
        return (url if isinstance(url, URL) else make_url(str(url))).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return "(unparsable URL)"


def database_error(exc: BaseException, url: str | URL, *, settings: Settings | None = None,
                   connecting: bool = True) -> PersonaError:
    """The one-line error a user sees for a database failure ``exc`` (a DBAPI error) on ``url``.

    A SQLite file that cannot be written or opened names the file or folder (a :class:`ConfigError`: the fix is the
    user's); anything else is a :class:`StoreError` with the database's own first line of message.

    Args:
        connecting: the failure came from opening a connection (the URL or the server is to check), not from a
            statement on an open one.
    """
    parsed = url if isinstance(url, URL) else make_url(str(url))
    orig = getattr(exc, "orig", None) or exc
    if parsed.get_backend_name() == "sqlite":
        err = _sqlite_file_error(orig, parsed.database, settings)
        if err is not None:
            return err
    first = _first_line(exc, parsed.password if isinstance(parsed.password, str) and parsed.password else None)
    if not connecting:
        return StoreError(f"database error: {first}", hint="check that the database is reachable")
    where, fix = _url_source(settings)
    return StoreError(f"cannot connect to the database {shown_url(parsed)}{_in(where, ' (from ', ')')}: {first}",
                      hint=f"check that the database server is running and accepts connections; {fix}")


def _sqlite_file_error(orig: BaseException, database: str | None, settings: Settings | None) -> ConfigError | None:
    """A SQLite file that cannot be written or opened, named with its folder; None for any other failure."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    path = Path(os.path.abspath(Path(database).expanduser()))
    folder = path.parent
    name = str(getattr(orig, "sqlite_errorname", "") or "")
    message = str(orig).lower()
    fix = f"let the user running persona write there: `chmod u+w {folder} {folder}/{path.name}*` as their owner"
    if name.startswith("SQLITE_READONLY") or "readonly database" in message:
        if name == "SQLITE_READONLY_DIRECTORY" or not os.access(folder, os.W_OK):
            why = f"its folder {folder} is read-only"
        elif path.exists() and not os.access(path, os.W_OK):
            why = "the file is read-only"
        else:
            why = "read-only file system or files"
        return ConfigError(f"the database file {path} is not writable ({why})", hint=fix)
    if name == "SQLITE_CANTOPEN" or "unable to open database file" in message:
        if not folder.is_dir():
            return ConfigError(f"cannot open the database file {path}: its folder {folder} does not exist",
                               hint=f"create {folder}, or point the database URL at an existing folder: {_url_source(settings)[1]}")
        if not os.access(folder, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.R_OK | os.W_OK)):
            return ConfigError(f"cannot open the database file {path}: permission denied", hint=fix)
        return ConfigError(f"cannot open the database file {path}",
                           hint=f"check the path and its permissions; {_url_source(settings)[1]}")
    return None


def check_connection(engine: Engine, settings: Settings | None = None) -> None:
    """Open (and return to the pool) one connection, so that an unreachable database fails now, in one line.

    Raises:
        StoreError: the database server cannot be reached or refused the connection.
        ConfigError: a SQLite file that cannot be opened or written (missing folder, permissions).
    """
    try:
        with engine.connect():
            pass
    except DBAPIError as exc:
        raise database_error(exc, engine.url, settings=settings) from exc


def open_engine(settings: Settings) -> Engine:
    """The engine of the workspace's database, checked to connect (see :func:`make_engine`, :func:`check_connection`)."""
    engine = make_engine(settings.url, settings=settings)
    try:
        check_connection(engine, settings)
    except BaseException:
        engine.dispose()
        raise
    return engine


def _pg_session_settings(dbapi_conn: Any, _record: Any) -> None:
    # Bulk loads stage chunks in temp tables: keep them in memory (only settable before a session's first temp table).
    with dbapi_conn.cursor() as cur:
        cur.execute("SET temp_buffers = '128MB'")
    dbapi_conn.commit()


class Store:
    """Access to the workspace database. Cheap to create; share one per process."""

    def __init__(self, settings: Settings, engine: Engine | None = None) -> None:
        self.settings = settings
        self.engine = (raise_constraint_errors(engine) if engine is not None
                       else make_engine(settings.url, settings=settings))
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
                raise database_error(exc, self.engine.url, settings=self.settings, connecting=False) from exc
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
            raise database_error(exc, self.engine.url, settings=self.settings, connecting=False) from exc

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
        ConfigError: the database URL is unusable (unparsable, not SQLite/PostgreSQL, driver missing), or the SQLite
            file cannot be opened or written.
        StoreError: the database cannot be reached.
        SchemaOutOfDateError: the database needs ``persona db upgrade``.
    """
    if check:
        from persona.store.workspace import require_workspace

        require_workspace(settings)
    store = Store(settings)
    if check:
        try:
            check_connection(store.engine, settings)
            store.check_schema()
        except BaseException:
            store.dispose()
            raise
    return store
