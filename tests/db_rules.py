"""A shop's own rules on its database (CHECK constraints Persona's schema lacks), for the tests of refused writes."""

from __future__ import annotations

import re
from typing import Any


def add_check(engine: Any, table: str, name: str, condition: str) -> None:
    """Add ``CONSTRAINT name CHECK (condition)`` to ``table``; SQLite, which cannot alter one, gets the table rebuilt.

    The rebuild follows SQLite's procedure for schema changes (new table, copy, drop, rename, indexes again) with
    foreign keys off meanwhile, so rows, indexes and the keys of other tables pointing at ``table`` are kept.
    """
    check = f"CONSTRAINT {name} CHECK ({condition})"
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.exec_driver_sql(f"ALTER TABLE {table} ADD {check}")
        return
    with engine.connect() as conn:
        ddl = conn.exec_driver_sql("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).scalar()
        indexes = conn.exec_driver_sql("SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
                                       "AND sql IS NOT NULL", (table,)).scalars().all()
        conn.exec_driver_sql("PRAGMA foreign_keys=OFF")  # outside a transaction, or SQLite ignores it
        try:
            new = re.sub(rf'^CREATE TABLE "?{table}"?', f"CREATE TABLE {table}_ruled", ddl.strip())
            conn.exec_driver_sql(new[: new.rindex(")")] + f", {check})")
            conn.exec_driver_sql(f"INSERT INTO {table}_ruled SELECT * FROM {table}")  # noqa: S608
            conn.exec_driver_sql(f"DROP TABLE {table}")
            conn.exec_driver_sql(f"ALTER TABLE {table}_ruled RENAME TO {table}")
            for sql in indexes:
                conn.exec_driver_sql(sql)
            conn.commit()
        finally:
            conn.rollback()  # after a failure: undo the half rebuild first, or the pragma below would be ignored
            conn.exec_driver_sql("PRAGMA foreign_keys=ON")
