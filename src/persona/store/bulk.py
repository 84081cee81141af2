"""Bulk writes at the fastest speed each database offers, inside one caller-owned transaction.

* SQLite: ``executemany`` of ``INSERT … ON CONFLICT (key) DO NOTHING`` / ``DO UPDATE`` on the raw
  ``sqlite3`` cursor (no ORM, no per-row SQLAlchemy work). Big chunks from :func:`encode_rows` arrive
  staged as a small in-memory database (:func:`stage_rows`, built in the reader thread) and are
  written with one ``INSERT … SELECT`` that runs without the GIL.
* PostgreSQL: ``COPY`` (psycopg 3) of a CSV block written by Arrow into a temporary table, then one
  ``INSERT … SELECT … ON CONFLICT`` into the real table. A load into an empty table can suspend the
  table's keys and indexes for the rest of the transaction (:meth:`BulkWriter.suspend_keys`): rows go in by
  plain ``COPY`` and every index is built once, by sorting, at the end (foreign keys of other tables that
  point at it are dropped and added back, re-checked, with it).

Both report how many rows were inserted (or, for upserts, inserted or changed), so callers can
count duplicates exactly.

Missing values: NaN is missing, never a value. A float NaN (numpy, Python, or pandas' nullable
``Float64``), ``None``, ``pd.NA`` and ``NaT`` are stored as SQL NULL by every path (executemany,
staged chunks, COPY with or without a temp table or keys), and NaN or ±inf nested in a JSON value
(JSON has no such numbers) as ``null``; numpy numbers and booleans nested in it stay numbers and booleans
(:mod:`persona.jsonvalues`). NaN is pandas' missing marker everywhere upstream, SQLite
cannot store it (it reads back NULL), and NULL is what SQL aggregates skip, so both databases hold
the same data. ±inf in a float column is a value and kept. JSON given as text is stored as is.
"""

from __future__ import annotations

import io
import itertools
import math
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from sqlalchemy import JSON, Boolean, Connection, DateTime, Float, Integer, LargeBinary, Table, inspect, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.schema import UniqueConstraint

from persona.errors import ConstraintError, InputError
from persona.jsonvalues import dumps
from persona.store.integrity import INTEGRITY_ERRORS, constraint_error
from persona.store.models import TABLES

OnConflict = Literal["ignore", "update", "error"]
_COPY_BLOCK = 1 << 20
STAGE_MIN_ROWS = 5_000  # SQLite: encoded chunks at least this big travel as a staged database (see stage_rows)
_STAGE_SCHEMA = "persona_stage"
_STAGE_TABLE = "chunk"
_EMPTY_STAGE: bytes | None = None
_STAGE_ROWS_PER_STATEMENT = 16  # staging binds this many rows per INSERT (measured: ~45% less time than one)
_SQLITE_MAX_PARAMS = 999  # the lowest SQLITE_MAX_VARIABLE_NUMBER of any SQLite build (3.32+ allow 32766)


def _kind(col_type: Any) -> str:
    if isinstance(col_type, DateTime):
        return "ts"
    if isinstance(col_type, Boolean):
        return "bool"
    if isinstance(col_type, JSON):
        return "json"
    if isinstance(col_type, LargeBinary):
        return "bytes"
    if isinstance(col_type, Float):
        return "float"
    if isinstance(col_type, Integer):  # BigInteger is an Integer
        return "int"
    return "str"


def _as_frame(rows: pd.DataFrame | Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    if isinstance(rows, pd.DataFrame):
        return rows
    return pd.DataFrame.from_records(list(rows))


def _utc(s: pd.Series) -> pd.Series:
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        return s.dt.tz_convert("UTC")
    if pd.api.types.is_datetime64_dtype(s.dtype):
        return s.dt.tz_localize("UTC")
    return pd.to_datetime(s, utc=True, format="mixed")


def _ts_strings(s: pd.Series) -> list[str | None]:
    """UTC timestamps as ``YYYY-MM-DD HH:MM:SS.ffffff`` (SQLAlchemy's SQLite storage format), nulls as None."""
    naive = _utc(s).dt.tz_localize(None).astype("datetime64[us]")
    text = pc.cast(pa.Array.from_pandas(naive), pa.string())  # Arrow renders exactly this layout, in C++
    return text.to_numpy(zero_copy_only=False).tolist()


def _json_text(v: Any) -> str | None:
    if v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, str):
        return v  # already serialized by the caller
    return dumps(v)  # numpy numbers as numbers; NaN or ±inf inside as null (PostgreSQL refuses them in JSON)


def _py_column(s: pd.Series, kind: str) -> list[Any]:
    """A column as Python values the sqlite3 driver binds directly (NaN/NaT become None)."""
    if kind == "ts":
        return _ts_strings(s)
    if kind == "json":
        if isinstance(s.dtype, pd.StringDtype):  # already JSON text
            return s.to_numpy(dtype=object, na_value=None).tolist()
        return [_json_text(v) for v in s.tolist()]
    if kind == "bool":
        return [None if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)) else int(bool(v)) for v in s.tolist()]
    if kind in ("float", "int"):
        num = pd.to_numeric(s, errors="raise") if s.dtype == object else s
        mask = num.isna().to_numpy()
        vals = num.to_numpy(dtype="float64" if kind == "float" else object, na_value=np.nan if kind == "float" else None)
        out = vals.tolist()
        if kind == "int":
            out = [None if v is None or (isinstance(v, float) and math.isnan(v)) else int(v) for v in out]
        elif mask.any():
            for i in np.flatnonzero(mask):
                out[i] = None
        return out
    if kind == "bytes":
        return [None if v is None or (isinstance(v, float) and math.isnan(v)) else bytes(v) for v in s.tolist()]
    vals = s.to_numpy(dtype=object, na_value=None).tolist()
    if isinstance(s.dtype, pd.StringDtype):
        return vals
    return [v if v is None or isinstance(v, str) else str(v) for v in vals]


def _arrow_column(s: pd.Series, kind: str) -> pa.Array:
    """A column as an Arrow array whose CSV rendering PostgreSQL's COPY (FORMAT csv) reads back exactly."""
    if kind == "ts":  # rendered here with an explicit offset: Arrow's CSV writer formats zoned timestamps 50x slower
        naive = pa.Array.from_pandas(_utc(s).dt.tz_localize(None).astype("datetime64[us]"))
        return pc.binary_join_element_wise(pc.cast(naive, pa.string()), "+00", "")
    if kind == "bool":
        return pa.array([None if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)) else bool(v) for v in s.tolist()], pa.bool_())
    if kind == "float":
        return pa.array(pd.to_numeric(s).to_numpy(dtype="float64", na_value=np.nan), pa.float64(), from_pandas=True)
    if kind == "int":
        return pa.array(pd.to_numeric(s).astype("Int64"), pa.int64())
    if kind == "bytes":
        return pa.array([None if v is None or (isinstance(v, float) and math.isnan(v)) else "\\x" + bytes(v).hex() for v in s.tolist()], pa.string())
    if kind == "json":
        if isinstance(s.dtype, pd.StringDtype):  # already JSON text
            return pa.array(s.to_numpy(dtype=object, na_value=None), pa.string())
        return pa.array([_json_text(v) for v in s.tolist()], pa.string())
    if isinstance(s.dtype, pd.StringDtype) and s.dtype.storage == "pyarrow":
        return pa.array(s.array, pa.string())
    return pa.array(_py_column(s, "str"), pa.string())


def stage_rows(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes | None:
    """Rows as a serialized in-memory SQLite database with one table, in the given order; None if unsupported.

    The costly per-row part of a SQLite insert is Python binding each value, and it holds the GIL;
    done here (in a reader thread, into an unindexed table of an in-memory database), it leaves the
    writer one ``INSERT … SELECT`` that runs in C without the GIL, so reading the next chunk and
    writing this one really overlap. The table's columns have no declared type, so every value keeps
    exactly the type and value it was bound with until the target table applies its own.
    """
    con = sqlite3.connect(":memory:", isolation_level=None)
    try:
        if not hasattr(con, "serialize"):  # SQLite built without sqlite3_serialize
            return None
        width = len(columns)
        rows = rows if isinstance(rows, list) else list(rows)
        if rows and set(map(len, rows)) != {width}:
            raise InputError(f"every staged row needs {width} values ({', '.join(columns)})")
        con.execute("PRAGMA journal_mode=OFF")
        con.execute(f"CREATE TABLE {_STAGE_TABLE} ({', '.join(f'c{i}' for i in range(width))})")
        one = f"({', '.join('?' * width)})"
        # several rows per statement: the per-row cost of a statement (step, reset) is paid once per k rows
        k = max(1, min(_STAGE_ROWS_PER_STATEMENT, _SQLITE_MAX_PARAMS // width))
        whole = len(rows) // k * k
        flat = iter(itertools.chain.from_iterable(rows[:whole]))
        con.execute("BEGIN")
        con.executemany(f"INSERT INTO {_STAGE_TABLE} VALUES {', '.join([one] * k)}", zip(*[flat] * (width * k), strict=True))
        con.executemany(f"INSERT INTO {_STAGE_TABLE} VALUES {one}", rows[whole:])
        con.execute("COMMIT")
        return con.serialize()
    finally:
        con.close()


def _empty_stage() -> bytes:
    global _EMPTY_STAGE
    if _EMPTY_STAGE is None:
        con = sqlite3.connect(":memory:")
        con.execute("CREATE TABLE empty (c0)")
        _EMPTY_STAGE = con.serialize()
        con.close()
    return _EMPTY_STAGE


@dataclass
class EncodedRows:
    """Rows already converted for one dialect's fast path (built off the writer thread by :func:`encode_rows`)."""

    table: str
    columns: list[str]
    dialect: str
    payload: Any  # SQLite: list of tuples, or bytes from stage_rows; PostgreSQL: CSV bytes for COPY
    count: int
    key_values: list[Any] | None = None  # PostgreSQL: the unique key of each row, for the direct-COPY path


def encode_rows(table: str, frame: pd.DataFrame, dialect: str, unique_key: str | None = None) -> EncodedRows:
    """Convert a DataFrame to what :meth:`BulkWriter.insert` sends, so the costly part can run in another thread."""
    t = TABLES[table]
    cols = [str(c) for c in frame.columns]
    unknown = [c for c in cols if c not in t.c]
    if unknown:
        raise InputError(f"columns {unknown} are not in table {table}", hint=f"columns: {', '.join(t.c.keys())}")
    kinds = {c: _kind(t.c[c].type) for c in cols}
    if dialect == "sqlite":
        # key order keeps the unique index's B-tree pages hot (stable: the first copy stays first)
        if unique_key and len(frame) > 1 and not frame[unique_key].is_monotonic_increasing:
            frame = frame.sort_values(unique_key, kind="stable")
        values = [_py_column(frame[c], kinds[c]) for c in cols]
        payload: Any = None
        if len(frame) >= STAGE_MIN_ROWS:
            payload = stage_rows(cols, zip(*values, strict=True))
        if payload is None:
            payload = list(zip(*values, strict=True))
    elif dialect == "postgresql":
        arrow = pa.table({c: _arrow_column(frame[c], kinds[c]) for c in cols})
        buf = io.BytesIO()
        pacsv.write_csv(arrow, buf, pacsv.WriteOptions(include_header=False, batch_size=65536))
        payload = buf.getvalue()
    else:
        raise InputError(f"no bulk encoding for {dialect}")
    keys = None
    if dialect == "postgresql" and unique_key and not frame[unique_key].duplicated().any():
        keys = _py_column(frame[unique_key], kinds[unique_key])
    return EncodedRows(table=table, columns=cols, dialect=dialect, payload=payload, count=len(frame), key_values=keys)


class BulkWriter:
    """Bulk inserts and statements inside one transaction of ``conn`` (see :meth:`Store.bulk`)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.dialect = conn.dialect.name
        self._tmp_seq = 0
        self._suspended: dict[str, list[str]] = {}  # table -> the unique key its rows are de-duplicated on at the end
        self._referencing: dict[str, list[tuple[str, str, str]]] = {}  # table -> foreign keys to it, dropped meanwhile

    def _table(self, name: str) -> Table:
        try:
            return TABLES[name]
        except KeyError:
            raise InputError(f"unknown table {name!r}", hint=f"one of: {', '.join(sorted(TABLES))}") from None

    def insert(
        self,
        table: str,
        rows: pd.DataFrame | Sequence[Mapping[str, Any]] | EncodedRows,
        *,
        on_conflict: OnConflict = "ignore",
        key: Sequence[str] | None = None,
        change_column: str | None = None,
    ) -> int:
        """Insert rows; duplicates on ``key`` are skipped (``ignore``) or overwrite the row (``update``).

        Args:
            table: table name.
            rows: a DataFrame or mappings whose keys are column names of the table.
            on_conflict: ``ignore`` (keep the stored row), ``update`` (upsert the given columns) or
                ``error`` (raise on a duplicate).
            key: the unique columns that define a duplicate (default: the primary key when the rows
                carry it, else the first unique key they carry). Rows without any of their table's keys
                are new rows when the primary key is generated (``audit_log``: the id comes from the
                sequence, so ``ignore`` and ``error`` both insert every row).
            change_column: for ``update``: only rows whose value here differs are rewritten (e.g. a
                content hash); default: any updated column differs.

        Returns:
            Rows inserted plus rows actually changed by an update.

        Raises:
            InputError: unknown table or columns, or rows lacking ``key`` where the database would not
                generate it (an upsert always needs it).
            ConstraintError: a row breaks a NOT NULL, CHECK or FOREIGN KEY constraint, or a unique key other
                than ``key`` (or ``key`` itself, under ``error``); the caller's transaction must roll back.
        """
        try:
            return self._insert(table, rows, on_conflict, key, change_column)
        except INTEGRITY_ERRORS as exc:
            raise constraint_error(exc, table) from exc

    def _insert(self, table: str, rows: pd.DataFrame | Sequence[Mapping[str, Any]] | EncodedRows, on_conflict: OnConflict,
                key: Sequence[str] | None, change_column: str | None) -> int:
        t = self._table(table)
        if table in self._suspended and not isinstance(rows, EncodedRows):
            raise InputError(f"{table} is loading with its keys suspended: send rows encoded by encode_rows()")
        if isinstance(rows, EncodedRows):
            if rows.dialect != self.dialect or rows.table != table:
                raise InputError(f"rows encoded for {rows.dialect}/{rows.table}, not {self.dialect}/{table}")
            if rows.count == 0:
                return 0
            keys = list(key) if key else _natural_key(t, rows.columns)
            on_conflict = _policy_without_key(t, rows.columns, keys, on_conflict)
            if self.dialect == "sqlite":
                return self._sqlite_exec(t, rows.columns, rows.payload, on_conflict, keys, change_column)
            if table in self._suspended:
                if on_conflict != "ignore" or keys != self._suspended[table]:
                    raise InputError(f"{table} is loading with its keys suspended: only inserts de-duplicated on "
                                     f"{self._suspended[table]} are possible until restore_keys()")
                return self._pg_copy(t, rows)
            if on_conflict == "ignore" and rows.key_values is not None and len(keys) == 1:
                direct = self._pg_copy_new(t, rows, keys[0])
                if direct is not None:
                    return direct
            return self._pg_exec(t, rows.columns, rows.payload, on_conflict, keys, change_column)
        frame = _as_frame(rows)
        if frame.empty:
            return 0
        cols = [str(c) for c in frame.columns]
        unknown = [c for c in cols if c not in t.c]
        if unknown:
            raise InputError(f"columns {unknown} are not in table {table}", hint=f"columns: {', '.join(t.c.keys())}")
        keys = list(key) if key else _natural_key(t, cols)
        on_conflict = _policy_without_key(t, cols, keys, on_conflict)
        kinds = {c: _kind(t.c[c].type) for c in cols}
        if self.dialect == "sqlite":
            return self._sqlite(t, frame, cols, kinds, on_conflict, keys, change_column)
        if self.dialect == "postgresql":
            return self._postgres(t, frame, cols, kinds, on_conflict, keys, change_column)
        return self._generic(t, frame, cols, kinds, on_conflict)

    # --- SQLite ---------------------------------------------------------------------------------
    def _conflict_sql(self, t: Table, cols: list[str], on_conflict: OnConflict, keys: list[str], change_column: str | None, pg: bool) -> str:
        if on_conflict == "error":
            return ""
        target = ", ".join(keys)
        updates = [c for c in cols if c not in keys]
        if on_conflict == "ignore" or not updates:
            return f" ON CONFLICT ({target}) DO NOTHING"
        sets = ", ".join(f"{c} = excluded.{c}" for c in updates)
        if change_column:
            checks = [change_column]
        else:
            checks = updates
        if pg:
            def expr(c: str, side: str) -> str:
                return f"{side}.{c}::text" if _kind(t.c[c].type) == "json" else f"{side}.{c}"
            cond = " OR ".join(f"{expr(c, t.name)} IS DISTINCT FROM {expr(c, 'excluded')}" for c in checks)
        else:
            cond = " OR ".join(f"{t.name}.{c} IS NOT excluded.{c}" for c in checks)
        return f" ON CONFLICT ({target}) DO UPDATE SET {sets} WHERE {cond}"

    def _sqlite(self, t: Table, frame: pd.DataFrame, cols: list[str], kinds: dict[str, str], on_conflict: OnConflict,
                keys: list[str], change_column: str | None) -> int:
        data = list(zip(*[_py_column(frame[c], kinds[c]) for c in cols], strict=True))
        return self._sqlite_exec(t, cols, data, on_conflict, keys, change_column)

    def _sqlite_exec(self, t: Table, cols: list[str], data: list[tuple] | bytes, on_conflict: OnConflict, keys: list[str],
                     change_column: str | None) -> int:
        # never INSERT OR IGNORE: it also skips rows breaking NOT NULL and CHECK constraints, silently; ON CONFLICT
        # (key) DO NOTHING skips only rows repeating the key, as on PostgreSQL, and any other violation raises
        tail = self._conflict_sql(t, cols, on_conflict, keys, change_column, pg=False)
        raw = self.conn.connection.driver_connection
        before = raw.total_changes
        cur = raw.cursor()
        try:
            if isinstance(data, bytes):
                self._sqlite_staged(raw, cur, f"INSERT INTO {t.name} ({', '.join(cols)})", len(cols), data, tail)
            else:
                cur.executemany(f"INSERT INTO {t.name} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}){tail}", data)
        finally:
            cur.close()
        return raw.total_changes - before

    @staticmethod
    def _sqlite_staged(raw: Any, cur: Any, head: str, ncols: int, staged: bytes, tail: str) -> None:
        """Insert the rows of a :func:`stage_rows` database with one statement (in C, without the GIL)."""
        if _STAGE_SCHEMA not in {row[1] for row in cur.execute("PRAGMA database_list")}:
            cur.execute(f"ATTACH DATABASE ':memory:' AS {_STAGE_SCHEMA}")
        raw.deserialize(staged, name=_STAGE_SCHEMA)
        try:
            where = " WHERE true" if tail else ""  # lets SQLite's parser tell ON CONFLICT from a join constraint
            names = ", ".join(f"c{i}" for i in range(ncols))
            cur.execute(f"{head} SELECT {names} FROM {_STAGE_SCHEMA}.{_STAGE_TABLE}{where}{tail}")
        finally:
            raw.deserialize(_empty_stage(), name=_STAGE_SCHEMA)  # give the chunk's memory back

    # --- PostgreSQL -----------------------------------------------------------------------------
    def _postgres(self, t: Table, frame: pd.DataFrame, cols: list[str], kinds: dict[str, str], on_conflict: OnConflict,
                  keys: list[str], change_column: str | None) -> int:
        arrow = pa.table({c: _arrow_column(frame[c], kinds[c]) for c in cols})
        buf = io.BytesIO()
        pacsv.write_csv(arrow, buf, pacsv.WriteOptions(include_header=False, batch_size=65536))
        return self._pg_exec(t, cols, buf.getvalue(), on_conflict, keys, change_column)

    def _pg_copy(self, t: Table, rows: EncodedRows) -> int:
        """COPY the rows straight into the table (its keys are suspended: nothing can conflict)."""
        raw = self.conn.connection.driver_connection
        view = memoryview(rows.payload)
        with raw.cursor() as cur, cur.copy(f"COPY {t.name} ({', '.join(rows.columns)}) FROM STDIN (FORMAT csv)") as copy:
            for i in range(0, len(view), _COPY_BLOCK):
                copy.write(view[i : i + _COPY_BLOCK])
        return rows.count

    def suspend_keys(self, table: str) -> bool:
        """PostgreSQL: prepare an empty table for a bulk load that builds its indexes once, at the end.

        Inside this writer's transaction: locks the table (ACCESS EXCLUSIVE: other sessions wait for the
        commit) and, if it holds no rows, drops its primary key, unique constraint and indexes, so each
        chunk goes in by plain ``COPY`` (maintaining a unique B-tree row by row costs about three times as
        much as building it by sorting). :meth:`restore_keys` must be called before the commit. DDL is
        transactional in PostgreSQL: a crash or a rollback leaves the table exactly as it was.

        Foreign keys of other tables that point at this one (``messages.run_id`` → ``campaign_runs.id``)
        depend on the key's index, so they are dropped too (their tables are locked ACCESS EXCLUSIVE until
        the commit) and :meth:`restore_keys` adds them back with their exact definitions, as read from the
        catalog. Adding a foreign key checks every row of its table, so nothing written while it was gone
        escapes the check: a row that breaks it fails the restore, and with it the transaction.

        Returns:
            Whether the keys were suspended; False (nothing changed, lock held) when the table has rows,
            the database is not PostgreSQL, or the table lacks an integer primary key and one unique key.
        """
        t = self._table(table)
        uniques = _unique_constraints(t)
        pk = list(t.primary_key.columns)
        if (self.dialect != "postgresql" or len(uniques) != 1 or len(pk) != 1 or not isinstance(pk[0].type, Integer)
                or table in self._suspended):
            return False
        self.conn.exec_driver_sql(f"LOCK TABLE {t.name} IN ACCESS EXCLUSIVE MODE")
        if self.conn.exec_driver_sql(f"SELECT EXISTS (SELECT 1 FROM {t.name})").scalar():  # noqa: S608 - our table
            return False
        insp = inspect(self.conn)
        key = list(uniques[0].columns.keys())
        names = [u["name"] for u in insp.get_unique_constraints(t.name) if u["column_names"] == key]
        names.append(insp.get_pk_constraint(t.name)["name"])  # as the database named them (create_all or a migration)
        if len(names) != 2 or None in names:  # a schema this code did not make: leave it alone
            return False
        present = {ix["name"] for ix in insp.get_indexes(t.name)}
        referencing = self._referencing_keys(t.name)
        for rel, name, _definition in referencing:
            self.conn.exec_driver_sql(f'ALTER TABLE {rel} DROP CONSTRAINT "{name}"')
        for ix in t.indexes:
            if ix.name in present:
                ix.drop(self.conn)
        for name in names:
            self.conn.exec_driver_sql(f'ALTER TABLE {t.name} DROP CONSTRAINT "{name}"')
        self._suspended[table] = key
        self._referencing[table] = referencing
        return True

    def _referencing_keys(self, table: str) -> list[tuple[str, str, str]]:
        """The foreign keys pointing at ``table`` (self-references included): (table, name, definition) each."""
        rows = self.conn.execute(text(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE contype = 'f' AND confrelid = CAST(:t AS regclass) ORDER BY 1, 2"), {"t": table}).all()
        return [(str(rel), str(name), str(definition)) for rel, name, definition in rows]

    def restore_keys(self, table: str) -> int:
        """Rebuild what :meth:`suspend_keys` dropped; rows repeating the unique key keep the first copy only.

        Returns:
            How many repeated rows were removed (they count as duplicates, as ``ON CONFLICT DO NOTHING``
            would have counted them).
        """
        t = self._table(table)
        key = self._suspended.pop(table)
        unique = _unique_constraints(t)[0]
        pk = t.primary_key.columns[0].name
        self.conn.exec_driver_sql("SET LOCAL maintenance_work_mem = '256MB'")  # index builds sort in memory
        # plain DDL: sqlalchemy's AddConstraint would mark the model's constraint as "not inline" for later CREATE TABLEs
        add_unique = f"ALTER TABLE {t.name} ADD CONSTRAINT {unique.name} UNIQUE ({', '.join(key)})"
        self.conn.exec_driver_sql(f"ALTER TABLE {t.name} ADD CONSTRAINT {t.primary_key.name} PRIMARY KEY ({pk})")
        removed = 0
        try:
            with self.conn.begin_nested():
                self.conn.exec_driver_sql(add_unique)
        except (IntegrityError, ConstraintError):  # the load repeated some keys: keep the first (lowest id) of each
            same = " AND ".join(f"a.{c} = b.{c}" for c in key)
            removed = int(self.conn.exec_driver_sql(
                f"DELETE FROM {t.name} a USING {t.name} b WHERE {same} AND a.{pk} > b.{pk}").rowcount)  # noqa: S608
            self.conn.exec_driver_sql(add_unique)
        for ix in t.indexes:
            ix.create(self.conn)
        for rel, name, definition in self._referencing.pop(table, []):  # after the keys they need
            try:
                self.conn.exec_driver_sql(f'ALTER TABLE {rel} ADD CONSTRAINT "{name}" {definition}')
            except INTEGRITY_ERRORS as exc:
                raise constraint_error(exc, rel) from exc
        return removed

    def _pg_copy_new(self, t: Table, rows: EncodedRows, key: str) -> int | None:
        """COPY straight into the table, betting that none of the rows exists yet (the common case of new data).

        Skips the temp table and the speculative insertion of ``ON CONFLICT``, and probes nothing up front:
        the COPY runs inside a savepoint and the unique index on ``key`` rejects it if any row already
        exists, in which case the savepoint is rolled back and None returned, and the caller takes the
        ``INSERT … ON CONFLICT DO NOTHING`` path. The table is locked against other writers (readers go on)
        for the rest of this transaction.
        """
        import psycopg

        raw = self.conn.connection.driver_connection
        col_list = ", ".join(rows.columns)
        with raw.cursor() as cur:
            cur.execute("SET LOCAL synchronous_commit = off")
            cur.execute(f"LOCK TABLE {t.name} IN SHARE ROW EXCLUSIVE MODE")
            cur.execute("SAVEPOINT persona_copy_new")
            view = memoryview(rows.payload)
            try:
                with cur.copy(f"COPY {t.name} ({col_list}) FROM STDIN (FORMAT csv)") as copy:
                    for i in range(0, len(view), _COPY_BLOCK):
                        copy.write(view[i : i + _COPY_BLOCK])
            except psycopg.errors.UniqueViolation:
                cur.execute("ROLLBACK TO SAVEPOINT persona_copy_new")
                return None
            cur.execute("RELEASE SAVEPOINT persona_copy_new")
        return rows.count

    def _pg_exec(self, t: Table, cols: list[str], payload: bytes, on_conflict: OnConflict, keys: list[str],
                 change_column: str | None) -> int:
        view = memoryview(payload)
        self._tmp_seq += 1
        tmp = f"_persona_bulk_{t.name}_{self._tmp_seq}"
        col_list = ", ".join(cols)
        raw = self.conn.connection.driver_connection
        with raw.cursor() as cur:
            cur.execute("SET LOCAL synchronous_commit = off")  # a crash loses at most this chunk, which a rerun redoes
            cur.execute(f"CREATE TEMP TABLE {tmp} ON COMMIT DROP AS SELECT {col_list} FROM {t.name} WITH NO DATA")
            with cur.copy(f"COPY {tmp} ({col_list}) FROM STDIN (FORMAT csv)") as copy:
                for i in range(0, len(view), _COPY_BLOCK):
                    copy.write(view[i : i + _COPY_BLOCK])
            tail = self._conflict_sql(t, cols, on_conflict, keys, change_column, pg=True)
            order = f" ORDER BY {', '.join(keys)}" if on_conflict != "error" else ""  # key order: B-tree pages stay hot
            cur.execute(f"INSERT INTO {t.name} ({col_list}) SELECT {col_list} FROM {tmp}{order}{tail}")
            n = cur.rowcount
            cur.execute(f"DROP TABLE {tmp}")
        return int(n)

    # --- anything else SQLAlchemy speaks --------------------------------------------------------
    def _generic(self, t: Table, frame: pd.DataFrame, cols: list[str], kinds: dict[str, str], on_conflict: OnConflict) -> int:
        if on_conflict != "error":
            raise InputError(f"bulk upserts are not implemented for {self.dialect}", hint="use SQLite or PostgreSQL")
        recs = frame.astype(object).where(frame.notna(), None).to_dict("records")
        return int(self.conn.execute(t.insert(), recs).rowcount)

    def execute(self, statement: Any, params: Any = None) -> Any:
        """Run a SQLAlchemy statement in the same transaction."""
        return self.conn.execute(statement, params) if params is not None else self.conn.execute(statement)


def _unique_constraints(t: Table) -> list[UniqueConstraint]:
    return [c for c in t.constraints if isinstance(c, UniqueConstraint)]


def _policy_without_key(t: Table, cols: Sequence[str], keys: list[str], on_conflict: OnConflict) -> OnConflict:
    """The conflict policy for rows that lack (some of) ``keys``; unchanged when they carry them all.

    Rows without a generated primary key (a serial/identity ``id``, the rows carrying no other unique key)
    get a fresh id each, so no row can repeat one: they are plain inserts (no ``ON CONFLICT`` target, no
    ordering on a column they lack), and any other constraint they break raises. Anything else has no
    key to de-duplicate on, and is refused rather than left to each database (SQLite would skip such
    rows silently, PostgreSQL reject them).
    """
    if set(keys) <= set(cols):
        return on_conflict
    if on_conflict == "update":
        raise InputError(f"upsert into {t.name} needs the key columns {keys} in the rows")
    pk = list(t.primary_key.columns)
    generated = (len(pk) == 1 and keys == [pk[0].name] and isinstance(pk[0].type, Integer)
                 and pk[0].autoincrement in (True, "auto"))
    if not generated:
        raise InputError(f"rows for {t.name} lack its key {keys}", hint="add the key columns to the rows, or name the "
                         "unique columns they carry with key=")
    return "error"


def _natural_key(t: Any, cols: Any) -> list[str]:
    """The key that defines a duplicate when none is given: the primary key when the rows carry it, else the
    first unique constraint they carry (``events.event_id``, ``consents.row_hash``: their ids are surrogates)."""
    pk = [c.name for c in t.primary_key.columns]
    have = set(cols)
    if set(pk) <= have:
        return pk
    for uc in t.constraints:
        if isinstance(uc, UniqueConstraint) and set(uc.columns.keys()) <= have:
            return list(uc.columns.keys())
    for c in t.columns:
        if c.unique and c.name in have:
            return [c.name]
    return pk
