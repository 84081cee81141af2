"""The bulk writer, COPY and ``db export/import`` write table and column names into SQL unquoted (fast paths built as
text): no name of the schema may be a word either database reserves (``full`` broke a PostgreSQL import once)."""

from __future__ import annotations

import re

from sqlalchemy.dialects.postgresql.base import RESERVED_WORDS as POSTGRES_RESERVED
from sqlalchemy.dialects.sqlite.base import SQLiteIdentifierPreparer

from persona.store.models import TABLES

PLAIN = re.compile(r"^[a-z_][a-z0-9_]*$")  # lower case: never folded differently by either database


def test_no_table_or_column_name_needs_quoting():
    reserved = {w.lower() for w in POSTGRES_RESERVED} | {w.lower() for w in SQLiteIdentifierPreparer.reserved_words}
    names = [(t, None) for t in TABLES] + [(t, c.name) for t, table in TABLES.items() for c in table.columns]
    bad = [f"{t}.{c}" if c else t for t, c in names if (c or t) in reserved or not PLAIN.match(c or t)]
    assert not bad, f"rename these (reserved in PostgreSQL or SQLite, or not plain lower case): {bad}"


def test_the_check_sees_a_reserved_word():
    reserved = {w.lower() for w in POSTGRES_RESERVED}
    assert {"full", "order", "user"} <= reserved
