"""A database's refusal of rows (NOT NULL, CHECK, UNIQUE, FOREIGN KEY) as a :class:`ConstraintError`, on either database.

The bulk writer runs on the raw drivers (``sqlite3``, psycopg), whose errors are not SQLAlchemy's; both are read here,
once, so the user gets one line naming the table and the column or constraint instead of a traceback. The message
never quotes the row (PostgreSQL's DETAIL does: it may hold personal data). Every other write (ORM sessions, Core
transactions) reaches the same translation through :func:`raise_constraint_errors`, installed on the store's engine.
"""

from __future__ import annotations

import re
import sqlite3
import weakref

from sqlalchemy import Engine, event
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.exc import IntegrityError as SAIntegrityError

from persona.errors import ConstraintError


def _driver_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [sqlite3.IntegrityError, SAIntegrityError]
    try:
        import psycopg
    except ImportError:  # pragma: no cover - PostgreSQL support not installed
        return tuple(errors)
    errors.append(psycopg.IntegrityError)
    return tuple(errors)


#: the exceptions :func:`constraint_error` translates (``except INTEGRITY_ERRORS``)
INTEGRITY_ERRORS = _driver_errors()

_SQLITE = re.compile(r"(?P<kind>NOT NULL|CHECK|UNIQUE|FOREIGN KEY) constraint failed(?::\s*(?P<what>.+))?")
_PG_KINDS = {"23502": "NOT NULL", "23514": "CHECK", "23505": "UNIQUE", "23503": "FOREIGN KEY"}
_ROLLED_BACK = "the transaction was rolled back: nothing of it was written"
# the table a write statement names: INSERT [OR …] INTO t, UPDATE [OR …] t, DELETE FROM t, ALTER TABLE [ONLY] t
_WRITTEN = re.compile(r'^\s*(?:INSERT(?:\s+OR\s+\w+)?\s+INTO|UPDATE(?:\s+OR\s+\w+)?|DELETE\s+FROM|ALTER\s+TABLE(?:\s+ONLY)?)'
                      r'\s+(?:"?\w+"?\.)?"?(\w+)"?', re.IGNORECASE)


def constraint_error(exc: BaseException, table: str | None = None) -> ConstraintError:
    """The user-facing error for ``exc``, a constraint violation raised while writing rows into ``table``.

    Args:
        exc: one of :data:`INTEGRITY_ERRORS` (a SQLAlchemy wrapper is read through to the driver's error).
        table: the table being written, used when the database does not name it; default: the table the failing
            statement writes (SQLAlchemy's errors carry the statement).

    Returns:
        A :class:`ConstraintError` naming the table and the column (NOT NULL) or constraint (CHECK, UNIQUE, FOREIGN KEY).
    """
    if table is None:
        m = _WRITTEN.match(getattr(exc, "statement", None) or "")
        table = m[1] if m else None
    orig = getattr(exc, "orig", None) or exc
    kind, column, constraint = None, None, None
    diag = getattr(orig, "diag", None)
    if diag is not None:  # psycopg
        kind = _PG_KINDS.get(getattr(orig, "sqlstate", None) or "")
        table = diag.table_name or table
        column, constraint = diag.column_name, diag.constraint_name
    else:
        m = _SQLITE.search(str(orig))
        if m:
            kind, what = m["kind"], (m["what"] or "").strip()
            if kind in ("NOT NULL", "UNIQUE") and what:
                names = [w.strip().split(".", 1) for w in what.split(",")]
                table = names[0][0] if len(names[0]) == 2 else table
                cols = [n[-1] for n in names]
                column, constraint = (cols[0], None) if len(cols) == 1 else (None, ", ".join(cols))
            elif what:
                constraint = what
    name = table or "a table"
    if kind == "NOT NULL" and column:
        return ConstraintError(
            f"the database refused rows for {name}: a row has no {column}, which {name}.{column} requires (NOT NULL); "
            f"{_ROLLED_BACK}", table=table, column=column, rule=kind,
            hint=f"the checks before the write should have caught this row, please report it; meanwhile give every row "
                 f"a {column} (or remove those without) and run the command again")
    if kind == "UNIQUE":
        what = f"{name}.{column}" if column else f"({constraint})" if constraint else "a unique key"
        return ConstraintError(
            f"the database refused rows for {name}: a row repeats the {what} of another row (UNIQUE); {_ROLLED_BACK}",
            table=table, column=column, constraint=constraint, rule=kind,
            hint="remove the repeated rows and run the command again")
    if kind == "FOREIGN KEY":
        what = f" {constraint}" if constraint else ""
        return ConstraintError(
            f"the database refused rows for {name}: a row refers to a row that does not exist (FOREIGN KEY{what}); "
            f"{_ROLLED_BACK}", table=table, constraint=constraint, rule=kind,
            hint="write the rows it refers to first, then run the command again")
    if kind == "CHECK":
        what = f" {constraint}" if constraint else ""
        return ConstraintError(
            f"the database refused rows for {name}: a row breaks the CHECK constraint{what}; {_ROLLED_BACK}",
            table=table, constraint=constraint, rule=kind,
            hint="fix the rows that break it (or, if it is your database's own rule, change the rule) and run the "
                 "command again")
    return ConstraintError(f"the database refused rows for {name} ({type(orig).__name__}); {_ROLLED_BACK}",
                           table=table, rule=kind, hint="see the database's log for the constraint, fix the rows and run again")


#: engines whose statements are translated. ``event.contains`` cannot tell: SQLAlchemy keys its listener registry by
#: ``id(engine)``, and a new engine allocated where a freed one was is taken for it while the freed engine's dialect
#: still waits for the cyclic collector, so the new engine would go without the hook (a raw IntegrityError in one CI
#: run of ``test_a_refused_campaign_gives_one_line_exit_4_and_stores_nothing``)
_TRANSLATING: weakref.WeakSet[Engine] = weakref.WeakSet()


def raise_constraint_errors(engine: Engine) -> Engine:
    """Make every statement run on ``engine`` raise a :class:`ConstraintError` where the database refuses its rows.

    One choke point for the writes outside the bulk writer: SQLAlchemy's ``handle_error`` hook sees each failing
    statement of the engine's connections (ORM sessions, Core transactions, ``exec_driver_sql``), so none of them
    surfaces a raw ``IntegrityError``. Installing it twice is harmless.

    Args:
        engine: the store's engine.

    Returns:
        ``engine``, for chaining.
    """
    if engine not in _TRANSLATING:  # a second listen on the same dialect is ignored by SQLAlchemy
        event.listen(engine, "handle_error", _translate)
        _TRANSLATING.add(engine)
    return engine


def _translate(ctx: ExceptionContext) -> ConstraintError | None:
    """The ``handle_error`` hook: a constraint violation becomes its :class:`ConstraintError`, anything else stays."""
    exc = ctx.sqlalchemy_exception
    return constraint_error(exc) if isinstance(exc, SAIntegrityError) else None
