"""Incremental pulls: a source's cursor is the largest value of one column (or record field) read, kept in the store.

The next run of the same source reads only rows whose value is ``>=`` the cursor. Not ``>``: rows sharing the
largest value may still have been arriving (in flight) when the last run read, and ``>`` would skip them for good;
with ``>=`` the rows read again are recognised as duplicates and counted so. The cursor moves only after a run
completed: a failure part-way keeps the old one, and the rerun reads again from it (nothing is lost).

A source is named by a key that holds no secret: a hash of the entity, the URL without its password (header values
never enter it, secret-looking query values are hidden), the query text or API parameter, and the column. The value
is stored as read, before any mapping, with a type tag (``integer``, ``float``, ``decimal``, ``timestamptz``,
``timestamp``, ``date``, ``text``), so the next run binds the same kind of value: a timestamp with time zone stays one.
Missing values (NULL, an absent field, NaN) never move the cursor; they are counted in the report.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, select

from persona.errors import CursorError, InputError, NotFoundError
from persona.store.models import SourceCursor

log = logging.getLogger(__name__)

#: what a cursor value may be, in the order the checks run (datetime before date: it is a date too)
_KINDS: tuple[tuple[type, str], ...] = ((int, "integer"), (float, "float"), (Decimal, "decimal"), (datetime, "timestamp"),
                                        (date, "date"), (str, "text"))
_NUMBERS = ("integer", "float")


def source_key(entity: str, identity: Sequence[str], column: str, scope: str | None = None) -> str:
    """A short, stable name of one source's cursor: a hash of the entity, what identifies the source and the column.

    Args:
        entity: the entity ingested.
        identity: texts that tell the source apart, without secrets (the redacted URL, the query, the API parameter).
        column: the cursor column or field, as given.
        scope: what else tells two sources apart when nothing above does, e.g. a configured source's name: two
            ``[sources.NAME]`` on one URL with different credentials (two tenants of one API) keep their own cursors.
    """
    parts = [entity, *identity, column] + ([f"scope:{scope}"] if scope else [])
    text = json.dumps(parts, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def encode_value(value: Any) -> tuple[str, str]:
    """A cursor value as ``(type tag, text)`` for the store.

    Raises:
        CursorError: a value that cannot be a cursor (a boolean, bytes, a time of day, a JSON object…).
    """
    kind = _kind(value)
    if kind == "timestamp" and value.tzinfo is not None and value.utcoffset() is not None:
        kind = "timestamptz"
    if kind == "float":
        return kind, repr(float(value))
    if kind in ("timestamp", "timestamptz", "date"):
        return kind, value.isoformat()
    return kind, str(value)


def decode_value(kind: str, text: str) -> Any:
    """The value :func:`encode_value` stored as ``(kind, text)``.

    Raises:
        CursorError: an unknown type tag (a cursor written by a newer Persona).
    """
    readers = {"integer": int, "float": float, "decimal": Decimal, "timestamptz": datetime.fromisoformat,
               "timestamp": datetime.fromisoformat, "date": date.fromisoformat, "text": str}
    if kind not in readers:
        raise CursorError(f"a stored cursor has the unknown type {kind!r}",
                          hint="clear it with `persona ingest cursors --reset KEY --yes`, or upgrade Persona")
    return readers[kind](text)


def shown_value(kind: str, text: str) -> Any:
    """A stored value for JSON: numbers as numbers, everything else as its text (ISO 8601 for dates and times)."""
    if kind == "integer":
        return int(text)
    if kind == "float":
        return float(text)
    return text


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        raise CursorError("a cursor column holds true/false values, which cannot order new rows after old ones",
                          hint="choose a column of timestamps, dates, increasing numbers or text")
    for typ, kind in _KINDS:
        if isinstance(value, typ):
            return kind
    raise CursorError(f"a cursor column holds values of type {type(value).__name__}, which cannot be a cursor",
                      hint="choose a column of timestamps, dates, increasing numbers or text")


def _kind_name(value: Any) -> str:
    kind = _kind(value)
    if kind == "timestamp":
        return "timestamp with time zone" if value.tzinfo is not None else "timestamp without time zone"
    return "number" if kind in _NUMBERS or kind == "decimal" else kind


def _missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    return isinstance(value, Decimal) and value.is_nan()


class IncrementalPull:
    """One run's cursor: the value it starts from, the largest value it reads, and the store row saved at the end.

    A reader calls :meth:`start` once it knows what names its source, then :meth:`add` with the raw values of the
    cursor column as it reads them; :func:`~persona.ingest.sources.pull.ingest_pulled` calls :meth:`finish` after
    the run completed.
    """

    def __init__(self, store: Any, entity: str, column: str, *, full: bool = False, what: str = "column",
                 scope: str | None = None) -> None:
        """Prepare the cursor of ``column`` (nothing is read yet).

        Args:
            store: the workspace store, which keeps the cursor.
            entity: the entity ingested.
            column: the cursor column (SQL) or record field (REST, dots for nested fields).
            full: read everything this once (ignore the stored cursor), then store a fresh one.
            what: ``"column"`` or ``"field"``, for messages.
            scope: see :func:`source_key` (a configured source's name).

        Raises:
            InputError: an empty column name.
        """
        if not column or not str(column).strip():
            raise InputError(f"the cursor {what} is empty", hint=f"name the {what} that grows with new and changed rows, "
                             "e.g. updated_at")
        self.store = store
        self.entity = entity
        self.column = str(column).strip()
        self.full = full
        self.what = what
        self.scope = scope
        self.key: str | None = None
        self.source = ""
        self.previous: tuple[str, str] | None = None
        self.largest: Any = None
        self.missing = 0

    def start(self, identity: Sequence[str], source: str) -> Any | None:
        """Name the source and look up its cursor.

        Args:
            identity: texts that tell the source apart, without secrets (see :func:`source_key`).
            source: the source as reports show it.

        Returns:
            The value this run reads from (``>=``), or None to read everything (a first run, or ``full``).
        """
        self.key = source_key(self.entity, identity, self.column, self.scope)
        self.source = source
        with self.store.session() as s:
            row = s.get(SourceCursor, self.key)
            self.previous = (row.cursor_type, row.cursor_value) if row is not None else None
        if self.previous is None or self.full:
            return None
        return decode_value(*self.previous)

    def add(self, values: Iterable[Any]) -> None:
        """Take the raw values of the cursor column from rows just read.

        Raises:
            CursorError: values of kinds that cannot be ordered together (numbers and text, timestamps with and
                without a time zone…), or of a kind that cannot be a cursor.
        """
        present = []
        for v in values:
            if _missing(v):
                self.missing += 1
            else:
                present.append(v)
        if not present:
            return
        if self.largest is not None:
            present.append(self.largest)
        for typ in {type(v) for v in present}:
            if typ is bool or not issubclass(typ, tuple(t for t, _ in _KINDS)):
                _kind(next(v for v in present if type(v) is typ))  # raises, naming the type
        try:
            self.largest = max(present)
        except TypeError:
            kinds = sorted({_kind_name(v) for v in present})
            fix = ("make it one type in the query, e.g. CAST(col AS TEXT) AS col, or choose another --since-column"
                   if self.what == "column" else "choose a --since-field that always holds the same kind of value")
            raise CursorError(f"the cursor {self.what} {self.column!r} holds values that cannot be ordered together "
                              f"({' and '.join(kinds)})", hint=fix) from None

    def finish(self, run_id: int | None) -> dict[str, Any]:
        """Store the new cursor (call only once the run completed) and describe it for the report.

        The cursor never moves back on an incremental run; a ``full`` run stores what it read, and removes the cursor
        when it read no value at all (so the next run reads everything again).

        Returns:
            ``{"key", "column", "from", "to", "type", "missing", "full"}``; ``from`` is None when the run read
            everything.
        """
        assert self.key is not None, "start() first"
        new = self.largest
        if new is not None and self.previous is not None and not self.full:
            try:
                new = max(new, decode_value(*self.previous))
            except TypeError:  # the source's column changed type since: its own value wins
                log.info("ingest cursor=%s type changed from %s", self.key, self.previous[0])
        stored: tuple[str, str] | None = encode_value(new) if new is not None else (None if self.full else self.previous)
        with self.store.session() as s:
            row = s.get(SourceCursor, self.key)
            if stored is None:
                if row is not None:
                    s.delete(row)
            elif row is None or (row.cursor_type, row.cursor_value) != stored:
                row = row or SourceCursor(source_key=self.key)
                row.entity, row.source, row.cursor_column = self.entity, self.source, self.column
                row.cursor_type, row.cursor_value = stored
                row.updated_at, row.run_id = datetime.now(UTC), run_id
                s.add(row)
        start = None if self.full or self.previous is None else self.previous
        if self.missing:
            log.info("ingest cursor=%s %s=%s missing=%d (read on full runs only)", self.key, self.what, self.column,
                        self.missing)
        return {"key": self.key, "column": self.column, "from": shown_value(*start) if start else None,
                "to": shown_value(*stored) if stored else None, "type": stored[0] if stored else None,
                "missing": self.missing, "full": self.full}


def list_cursors(store: Any) -> list[dict[str, Any]]:
    """Every stored cursor, newest first: ``{"key", "entity", "column", "value", "type", "updated_at", "run_id", "source"}``."""
    with store.session() as s:
        rows = s.execute(select(SourceCursor).order_by(SourceCursor.updated_at.desc(), SourceCursor.source_key)).scalars()
        return [_described(r) for r in rows]


def find_cursors(store: Any, key: str | None) -> list[dict[str, Any]]:
    """The cursors ``key`` names (the whole key or its first 4+ characters), or all of them when ``key`` is None.

    Raises:
        NotFoundError: no cursor has that key.
        InputError: the prefix fits several cursors.
    """
    found = list_cursors(store)
    if key is None:
        return found
    key = key.strip().lower()
    hits = [c for c in found if c["key"] == key] or [c for c in found if len(key) >= 4 and c["key"].startswith(key)]
    if not hits:
        raise NotFoundError(f"no stored cursor has the key {key!r}", hint="`persona ingest cursors` lists them")
    if len(hits) > 1:
        raise InputError(f"{len(hits)} cursors have keys starting {key!r}", hint="give more of the key")
    return hits


def reset_cursors(store: Any, keys: Sequence[str]) -> int:
    """Remove the cursors with these keys: their sources' next runs read everything. Returns how many went."""
    if not keys:
        return 0
    with store.session() as s:
        return int(s.execute(delete(SourceCursor).where(SourceCursor.source_key.in_(list(keys)))).rowcount or 0)


def _described(row: SourceCursor) -> dict[str, Any]:
    return {"key": row.source_key, "entity": row.entity, "column": row.cursor_column,
            "value": shown_value(row.cursor_type, row.cursor_value), "type": row.cursor_type, "updated_at": row.updated_at,
            "run_id": row.run_id, "source": row.source}
