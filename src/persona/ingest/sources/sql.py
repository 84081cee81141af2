"""Ingest the result of a SQL query (or a whole table) from any database SQLAlchemy can reach.

The query runs once, read-only where the database allows it (a read-only transaction on PostgreSQL,
``PRAGMA query_only`` on SQLite; it is always rolled back), and its rows stream through a server-side cursor
``chunk_size`` at a time, so memory stays bounded. A record's "line" is its 1-based row number in the result,
and its raw text (for the quarantine file) the row as JSON.

An incremental pull (``since_column``) reads everything the first time and keeps the largest value of that column;
later runs wrap the query as ``SELECT * FROM (query) AS src WHERE src.col >= :cursor``, the cursor a bound
parameter (see :mod:`persona.ingest.sources.cursor` for why ``>=``).
"""

from __future__ import annotations

import base64
import logging
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import numpy as np
import pandas as pd
from sqlalchemy import bindparam, create_engine, inspect, text
from sqlalchemy.engine import URL, Connection, CursorResult, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.sql.elements import TextClause
from sqlalchemy.types import NullType

from persona.errors import CursorError, InputError, SourceError, SourceUnavailableError
from persona.ingest.mapping import parse_map
from persona.ingest.readers import RawChunk
from persona.ingest.runner import IngestReport
from persona.ingest.sources.cursor import IncrementalPull
from persona.ingest.sources.pull import ingest_pulled
from persona.ingest.sources.redact import redact_url, scheme_of
from persona.jsonvalues import dumps
from persona.privacy.crypto import PIICipher

log = logging.getLogger(__name__)

#: a bare (optionally schema-qualified, optionally double-quoted) table name stands for ``SELECT * FROM`` it
_TABLE = re.compile(r'^\s*(?:(?P<schema>"[^"]+"|[A-Za-z_][\w$]*)\.)?(?P<table>"[^"]+"|[A-Za-z_][\w$]*)\s*;?\s*$')
CONNECT_TIMEOUT_S = 10
URL_HINT = ("write it as dialect+driver://user:password@host:port/database, e.g. postgresql+psycopg://me@localhost/shop "
            "or sqlite:///shop.db")


def ingest_sql(
    store: Any,
    entity: str,
    query: str,
    url: str,
    *,
    mapping: Mapping[str, str] | Sequence[str] | None = None,
    cipher: PIICipher | None = None,
    progress: bool | None = None,
    chunk_size: int | None = None,
    since_column: str | None = None,
    full: bool = False,
    cursor_scope: str | None = None,
) -> IngestReport:
    """Ingest the rows of a SQL query (or of a table, given its name) as ``entity``.

    A failure part-way (the connection lost) leaves the chunks committed before it and raises; rerunning
    reads the query again and the rows already stored count as duplicates.

    With ``since_column`` the pull is incremental: the first run reads everything and stores the largest value of
    that column (as read, before ``mapping``); each later run of the same query on the same database reads only the
    rows whose value is ``>=`` it (rows at the previous largest value are read again and count as duplicates, so
    rows that arrived with the same value after the last read are not lost). The cursor moves only when the run
    completes. Rows whose value is NULL are read on the first (and every ``full``) run only; the report counts them.

    Args:
        store: the workspace :class:`~persona.store.Store`.
        entity: ``customers``, ``products``, ``events``, ``reviews`` or ``consents``.
        query: a ``SELECT`` (run as written, read-only) or a table name (``SELECT * FROM`` it).
        url: the SQLAlchemy URL of the database to read, e.g. ``postgresql+psycopg://me:pw@host/shop``.
        mapping: ``{their_column: our_column}`` or ``["their=our", …]`` (``--map``).
        cipher: PII cipher; default the workspace's.
        progress: show a row counter on long loads; default ``settings.progress``.
        chunk_size: rows per fetch and per transaction; default ``settings.chunk_size``.
        since_column: a column of the result that grows with new and changed rows (``updated_at``, an id…).
        full: with ``since_column``, read everything this once, then store a fresh cursor.
        cursor_scope: tells this source's cursor apart from another's on the same database, query and column
            (``persona sync`` passes the configured source's name).

    Returns:
        The counts, the quarantine file and stubs created; ``source`` names the database without its password;
        ``cursor`` (incremental pulls) the column and the values read from and up to.

    Raises:
        InputError: ``full`` without ``since_column``.
        CursorError: ``since_column`` is not a column of the result, or holds values that cannot be ordered.
        SourceError: a malformed URL, an unknown database kind or missing driver, a table that does not exist,
            or a query the database refuses.
        SourceUnavailableError: the database cannot be reached, or the connection is lost part-way.
        SchemaError: the result lacks required columns.
    """
    from persona.ingest.schema import get_spec

    get_spec(entity)  # an unknown entity fails before connecting
    if full and not since_column:
        raise InputError("full=True (--full) applies to incremental pulls only",
                         hint="add since_column (--since-column COL); without one every run reads everything anyway")
    mp = dict(mapping) if isinstance(mapping, Mapping) else parse_map(mapping)
    size = chunk_size or store.settings.chunk_size
    cursor = IncrementalPull(store, entity, since_column, full=full, scope=cursor_scope) if since_column is not None else None
    reader = SQLReader(url, query, size, cursor=cursor)
    return ingest_pulled(store, entity, reader, mapping=mp, cipher=cipher, progress=progress, cursor=cursor)


class SQLReader:
    """One query's result, opened on construction (so mistakes surface at once) and read as raw chunks."""

    def __init__(self, url: str, query: str, chunk_size: int, *, cursor: IncrementalPull | None = None) -> None:
        """Connect and run ``query`` (from ``cursor``'s stored value on, when it has one).

        Raises:
            SourceError, CursorError: see :func:`ingest_sql`.
            SourceUnavailableError: the database cannot be reached.
        """
        if not query or not query.strip():
            raise SourceError("the SQL query is empty", hint="give a SELECT query or a table name, e.g. --sql customers")
        self.chunk_size = max(1, int(chunk_size))
        self._lock = threading.Lock()
        self._started = False
        self._closed = False
        self._conn: Connection | None = None
        self._result: CursorResult | None = None
        self._cursor = cursor
        self._cursor_at = -1  # the cursor column's position in the result
        parsed = _parse_url(url)
        self._password = parsed.password
        self.shown_url = _redacted(parsed)
        sql, self.label = _statement(query)
        self.source, identity = _named(parsed, sql)
        start = cursor.start(identity, self.source) if cursor is not None else None
        self._engine = _engine(parsed, self.shown_url)
        try:
            self._conn = self._connect()
            self._result = self._execute(sql, query, start)
            self.columns = [str(k) for k in self._result.keys()]
            if cursor is not None:
                self._cursor_at = self.columns.index(_cursor_column(self.columns, cursor.column))
        except BaseException:
            self.close()
            raise

    def _connect(self) -> Connection:
        try:
            conn = self._engine.connect()
        except (DBAPIError, OSError) as exc:
            raise SourceUnavailableError(f"cannot connect to {self.shown_url}: {self._message(exc)}",
                                         hint="check the host, port, database name and credentials of the URL "
                                              "(--db or PERSONA_SOURCE_DB) and that the server is running") from None
        dialect = self._engine.dialect.name
        try:
            if dialect == "postgresql":
                conn = conn.execution_options(postgresql_readonly=True)
            elif dialect == "sqlite":
                conn.exec_driver_sql("PRAGMA query_only = ON")
        except SQLAlchemyError as exc:  # pragma: no cover - a driver without read-only support: the rollback still holds
            log.debug("ingest source=sql read-only mode unavailable: %s", type(exc).__name__)
        return conn

    def _execute(self, sql: str, query: str, start: Any = None) -> CursorResult:
        """Run ``sql`` as written, or only its rows from ``start`` on (an incremental pull with a stored cursor)."""
        assert self._conn is not None
        table = _TABLE.match(query)
        if table is not None:
            self._check_table(table.group("schema"), table.group("table"))
        streamed = self._conn.execution_options(stream_results=True, yield_per=self.chunk_size)
        try:
            if start is None:
                result = streamed.execution_options(no_parameters=True).exec_driver_sql(sql)
            else:
                assert self._cursor is not None
                probe = self._conn.execution_options(no_parameters=True).exec_driver_sql(
                    f"SELECT * FROM ({sql}) AS src WHERE 1 = 0")  # the result's columns, without reading a row
                columns = [str(k) for k in probe.keys()]
                probe.close()
                column = self._engine.dialect.identifier_preparer.quote_identifier(_cursor_column(columns, self._cursor.column))
                result = streamed.execute(_since_statement(sql, column, start))
        except DBAPIError as exc:
            if exc.connection_invalidated:
                raise SourceUnavailableError(f"lost the connection to {self.shown_url} running the query: "
                                             f"{self._message(exc)}", hint="check the server, then run the command again") from None
            raise SourceError(f"{self.shown_url} refused the query: {self._message(exc)}",
                              hint="check the SQL and the table and column names; it runs as written, read-only") from None
        if not result.returns_rows:
            result.close()
            raise SourceError(f"the statement {_one_line(query)!r} returns no rows", hint="give a SELECT query or a table name")
        return result

    def _check_table(self, schema: str | None, table: str) -> None:
        """A clear error, listing the tables there, when a bare table name does not exist."""
        assert self._conn is not None
        schema = schema.strip('"') if schema else None
        name = table.strip('"')
        try:
            insp = inspect(self._conn)
            if insp.has_table(name, schema=schema):
                return
            if name.lower() != name and not table.startswith('"') and insp.has_table(name.lower(), schema=schema):
                return  # PostgreSQL folds unquoted names to lower case
            tables = sorted(insp.get_table_names(schema=schema)) + sorted(insp.get_view_names(schema=schema))
        except DBAPIError:
            self._conn.rollback()  # cannot inspect (permissions): let the query itself report
            return
        where = f"{schema}.{name}" if schema else name
        shown = ", ".join(tables[:30]) + (", …" if len(tables) > 30 else "")
        raise SourceError(f"table {where!r} not found in {self.shown_url}",
                          hint=f"tables there: {shown}" if tables else "the database has no tables: check the URL's database name")

    def chunks(self) -> Iterator[RawChunk]:
        """The result's rows, ``chunk_size`` at a time; the connection closes at the end or on an error.

        Raises:
            SourceUnavailableError: the connection is lost part-way (the message says how many rows were read).
        """
        with self._lock:
            if self._closed or self._result is None:
                return
            self._started = True
        keys = self.columns
        row = 0
        try:
            for part in self._result.partitions(self.chunk_size):
                rows = [tuple(r) for r in part]
                if self._cursor is not None:  # before the chunk is stored: values that cannot be ordered stop here
                    self._cursor.add(r[self._cursor_at] for r in rows)
                frame = _frame(keys, rows)
                n = len(frame)

                def raw_of(i: int, _f: pd.DataFrame = frame) -> str:
                    return dumps(dict(zip(keys, _f.iloc[i].tolist(), strict=True)), compact=False)

                yield RawChunk(frame=frame, lines=np.arange(row + 1, row + n + 1, dtype=np.int64), raw=raw_of, position=row + n)
                row += n
        except DBAPIError as exc:
            raise SourceUnavailableError(
                f"reading from {self.shown_url} failed after row {row}: {self._message(exc)}",
                hint=f"the {row} rows read before it are stored; run the same command again to finish "
                     "(rows already stored count as duplicates)") from None
        finally:
            self._close_now()
        log.info("ingest source=sql url=%s rows=%d", self.shown_url, row)

    def close(self) -> None:
        """Release the connection and the engine, unless :meth:`chunks` owns them (it closes them itself)."""
        with self._lock:
            if self._started:
                return
        self._close_now()

    def _close_now(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        for release in (self._result.close if self._result is not None else None,
                        self._conn.close if self._conn is not None else None, self._engine.dispose):
            if release is None:
                continue
            try:
                release()
            except Exception as exc:  # noqa: BLE001 - closing a broken connection must not hide the real error
                log.debug("ingest source=sql close failed: %s", type(exc).__name__)

    def _message(self, exc: BaseException) -> str:
        """The database's own message, first line, without the password."""
        orig = getattr(exc, "orig", None) or exc
        lines = [s.strip() for s in str(orig).strip().splitlines() if s.strip()]
        text = lines[0] if lines else type(orig).__name__
        if self._password:
            text = text.replace(str(self._password), "***")
        return text[:500]


def sql_identity(url: str, query: str) -> tuple[str, list[str]]:
    """How a query on a database is named, without connecting: as reports and ``ingest_runs`` show it, and the texts
    its cursor key is made of (see :func:`~persona.ingest.sources.cursor.source_key`).

    Raises:
        SourceError: the URL cannot be parsed, or names a SQLite file that does not exist.
    """
    return _named(_parse_url(url), _statement(query)[0])


def _named(parsed: URL, sql: str) -> tuple[str, list[str]]:
    return f"{_redacted(parsed)} {_one_line(sql)}", [_identity(parsed), " ".join(sql.split())]


def _parse_url(url: str) -> URL:
    if not url or not str(url).strip():
        raise SourceError("no database URL given", hint=f"pass --db URL or set PERSONA_SOURCE_DB; {URL_HINT}")
    try:
        parsed = make_url(str(url).strip())
    except (ArgumentError, ValueError):
        raise SourceError(f"cannot parse the database URL (it starts {scheme_of(str(url))})", hint=URL_HINT) from None
    if parsed.drivername == "postgresql" and not _importable("psycopg2") and _importable("psycopg"):
        parsed = parsed.set(drivername="postgresql+psycopg")  # the plain URL asks for psycopg2; psycopg 3 is installed
    if parsed.get_backend_name() == "sqlite":
        db = parsed.database
        if not db or db == ":memory:":
            raise SourceError("an in-memory SQLite database has nothing to read", hint="name the file: sqlite:///path/to/shop.db")
        if not db.startswith("file:") and "uri" not in parsed.query and not Path(db).expanduser().is_file():
            raise SourceError(f"SQLite database file not found: {db}",
                              hint="check the path: sqlite:///relative/path.db or sqlite:////absolute/path.db")
    return parsed


def _redacted(parsed: URL) -> str:
    return redact_url(parsed.render_as_string(hide_password=True))


def _identity(parsed: URL) -> str:
    """The database as a cursor's key names it: without the password, and a SQLite file by its absolute path."""
    db = parsed.database
    if parsed.get_backend_name() == "sqlite" and db and not db.startswith("file:"):
        parsed = parsed.set(database=str(Path(db).expanduser().resolve()))
    return _redacted(parsed)


def _engine(parsed: URL, shown: str) -> Engine:
    connect_args: dict[str, Any] = {}
    if parsed.get_backend_name() == "postgresql":
        connect_args["connect_timeout"] = CONNECT_TIMEOUT_S
    try:
        return create_engine(parsed, connect_args=connect_args)
    except NoSuchModuleError:
        raise SourceError(f"unknown kind of database {parsed.drivername!r} in {shown}",
                          hint="use e.g. sqlite:///FILE, postgresql+psycopg://… or mysql+pymysql://…, with the driver installed") from None
    except ImportError as exc:
        missing = getattr(exc, "name", None) or str(exc)
        raise SourceError(f"the Python module {missing!r} that {parsed.drivername}:// needs is not installed",
                          hint="install the driver's package, or name an installed driver in the URL as dialect+driver://…") from None
    except (ArgumentError, TypeError, ValueError) as exc:
        raise SourceError(f"cannot use the database URL {shown}: {exc}", hint=URL_HINT) from None


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _statement(query: str) -> tuple[str, str]:
    """The SQL to run and a short label: a bare table name becomes ``SELECT * FROM`` it."""
    m = _TABLE.match(query)
    if m is None:
        return query.strip().rstrip(";").strip(), "query"
    name = f"{m.group('schema')}.{m.group('table')}" if m.group("schema") else m.group("table")
    return f"SELECT * FROM {name}", name.replace('"', "")


def _cursor_column(columns: list[str], wanted: str) -> str:
    """The result's column named ``wanted`` (its case ignored when that is unambiguous).

    Raises:
        CursorError: no such column; the message lists the result's columns.
    """
    if wanted in columns:
        return wanted
    folded = [c for c in columns if c.lower() == wanted.lower()]
    if len(folded) == 1:
        return folded[0]
    shown = ", ".join(columns[:40]) + (", …" if len(columns) > 40 else "")
    raise CursorError(f"--since-column {wanted!r} is not a column of the query's result (columns there: {shown})",
                      hint="name one of those columns, as the query returns it (before --map)")


def _since_statement(sql: str, column: str, start: Any) -> TextClause:
    """``SELECT * FROM (sql) AS src WHERE src.column >= :cursor``, the cursor bound as a parameter, never inlined.

    ``column`` is already quoted for the dialect. The query's own colons are escaped so that ``:cursor`` is the only
    parameter (a ``'10:00'`` or ``::date`` in it stays as written); SQLAlchemy doubles ``%`` for drivers that need it.
    The value is bound as read (no type conversion), so the database compares like with like.
    """
    def escaped(t: str) -> str:
        return t.replace(":", "\\:")

    statement = text(f"SELECT * FROM ({escaped(sql)}) AS src WHERE src.{escaped(column)} >= :cursor")
    return statement.bindparams(bindparam("cursor", start, type_=NullType()))


def _one_line(sql: str, limit: int = 200) -> str:
    text = " ".join(sql.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


_CONVERT = (Decimal, datetime, date, time, bytes, bytearray, memoryview, UUID)


def _frame(keys: list[str], rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    """Rows as a frame of plain values: numeric and boolean columns typed, text and ISO dates as objects."""
    cols: dict[int, pd.Series] = {}
    for j in range(len(keys)):
        values = [r[j] for r in rows]
        if any(isinstance(v, _CONVERT) for v in values):
            values = [_plain(v) for v in values]
        col = pd.Series(values, dtype=object)
        # integers with a NULL stay integers: typed, they would become floats (5 -> 5.0) in this chunk only, and the
        # same row would hash differently when read in another chunk mix (a rerun would count it as changed)
        cols[j] = col.astype("Int64") if _ints_with_nulls(values) else col.infer_objects()
    frame = pd.DataFrame(cols)
    frame.columns = keys  # by position: a name the query repeats stays twice, and the header check names it
    return frame


def _ints_with_nulls(values: list[Any]) -> bool:
    """True when ``values`` are integers (not booleans) and at least one NULL."""
    nulls = 0
    for v in values:
        if v is None:
            nulls += 1
        elif type(v) is not int:
            return False
    return 0 < nulls < len(values)


def _plain(v: Any) -> Any:
    """A database value as the plain value a JSON source would give."""
    if isinstance(v, Decimal):
        return float(v) if v.is_finite() else str(v)
    if isinstance(v, datetime | date | time):
        return v.isoformat()
    if isinstance(v, bytes | bytearray | memoryview):
        b = bytes(v)
        try:
            return b.decode("utf-8")
        except UnicodeDecodeError:
            return "base64:" + base64.b64encode(b).decode("ascii")
    if isinstance(v, UUID):
        return str(v)
    return v


