"""The body of ``POST /v1/events``: read, validated and typed column by column, without a model per event.

:class:`EventIn` / :class:`EventBatch` are the documented contract (the OpenAPI schema and the 422s). Running
them on every event, dumping each one back to a dict and then coercing the batch again with pandas costs
~50 µs per event; most batches are plain (string ids, ISO 8601 times, JSON numbers), and for those
:func:`read_batch` checks the same rules in one pass over orjson's output and returns the columns as file
ingestion's :class:`~persona.ingest.coerce.ChunkCoercer` would type them (:class:`EventRows`).

Anything the fast pass is not sure to judge exactly as the models plus the coercer do (a number where a
string goes, a timestamp in another layout, a numeric string, a value out of range, a column name
that differs from a canonical one only by case, invalid JSON, ...) sends the whole batch the slow way:
the models (their 422s unchanged), then the coercer in the sink. Values whose whitespace or case needs
work go through ingestion's own functions (:func:`~persona.ingest.coerce.as_text`), so the results and
rejection reasons are those of file ingestion by construction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import repeat
from typing import Any

import orjson
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from persona.jsonvalues import dumps

MAX_BATCH = 1000


class EventIn(BaseModel):
    model_config = ConfigDict(extra="allow")

    event_id: str | None = Field(default=None, max_length=128, description="Your id; retries with the same id are ignored.")
    customer_id: str = Field(min_length=1, max_length=128)
    product_id: str | None = Field(default=None, max_length=128)
    event_type: str = Field(min_length=1, max_length=64, examples=["view", "add_to_cart", "purchase"])
    timestamp: datetime
    value: float | None = None
    quantity: float | None = None
    revenue: float | None = None
    channel: str | None = Field(default=None, max_length=64)
    session_id: str | None = Field(default=None, max_length=128)


class EventBatch(BaseModel):
    events: list[EventIn] = Field(min_length=1, max_length=MAX_BATCH)


BATCH = TypeAdapter(EventBatch)
COLUMNS = ("event_id", "customer_id", "product_id", "event_type", "timestamp", "value", "quantity", "revenue", "channel",
           "session_id")
# (column, the models' max_length, required)
_TEXT = (("customer_id", 128, True), ("event_type", 64, True), ("event_id", 128, False), ("product_id", 128, False),
         ("channel", 64, False), ("session_id", 128, False))
_OPT_STR = frozenset({str, type(None)})
_OPT_FLOAT = frozenset({float, type(None)})
_OPT_NUMBER = frozenset({float, int, type(None)})
_NUMBERS = ("value", "quantity", "revenue")
_KNOWN = frozenset(COLUMNS)
_ISO = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|[+-]\d{2}:\d{2})?", re.ASCII)
_PLAIN_TYPE = re.compile(r"[a-z0-9_]+")
_LO, _HI = datetime(1900, 1, 1), datetime(2200, 1, 1)  # the range ingestion accepts (naive UTC)
_EXACT_INT = 2**53
_TYPE_CACHE: dict[str, str | None] = {}  # raw event type -> normalized (as ingestion normalizes it)


@dataclass
class EventRows:
    """A validated batch in columns (valid rows only), with what was rejected and why.

    ``ts`` holds naive UTC datetimes; ``event_id`` None means "give it the content hash".
    """

    received: int
    event_id: list[str | None]
    customer_id: list[str]
    product_id: list[str | None]
    event_type: list[str]
    ts: list[datetime]
    value: list[float | None]
    quantity: list[float | None]
    revenue: list[float | None]
    channel: list[str | None]
    session_id: list[str | None]
    context: list[dict[str, Any] | None]
    rejected: list[tuple[int, str, str]] = field(default_factory=list)  # (1-based position, reason, raw row)

    def __len__(self) -> int:
        return len(self.customer_id)


@dataclass
class ParsedBatch:
    """What the router hands the sink: typed columns (fast path) or the models' dumps (slow path)."""

    rows: EventRows | list[dict[str, Any]]
    customers: list[str]  # the customer ids the request names (as sent), for the recommendation cache


class _NotPlain(Exception):  # noqa: N818 - control flow: the batch needs the models' judgement
    pass


def read_batch(raw: bytes) -> ParsedBatch:
    """Validate a request body; the fast pass for plain batches, the models otherwise.

    Raises:
        RequestValidationError: the body breaks the documented schema (a 422 listing each problem).
    """
    try:
        return _fast(raw)
    except _NotPlain:
        pass
    try:
        batch = BATCH.validate_json(raw)
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]) from None
    rows = [e.model_dump(mode="json") for e in batch.events]
    return ParsedBatch(rows=rows, customers=sorted({e.customer_id for e in batch.events}))


def _text_ok(s: str) -> bool:
    """True when ingestion's strip would leave ``s`` as it is and it is not empty."""
    return len(s) > 0 and len(s.strip()) == len(s)


def _all_stripped(col: list[str | None]) -> bool:
    """True when no value of ``col`` is empty or has whitespace at either end (C-level scans; ``strip`` returns the
    string itself when there is nothing to strip, so the comparison is mostly identity checks)."""
    values = list(filter(None, col))
    return len(values) + col.count(None) == len(col) and list(map(str.strip, values)) == values


def _fast(raw: bytes) -> ParsedBatch:
    """The fast pass: column by column, each check a C-level scan; :class:`_NotPlain` when the models must judge."""
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise _NotPlain from None
    events = doc.get("events") if type(doc) is dict else None
    if type(events) is not list or not 1 <= len(events) <= MAX_BATCH or set(map(type, events)) != {dict}:
        raise _NotPlain
    n = len(events)
    cols: dict[str, list[Any]] = {}
    unsafe: list[tuple[str, int]] = []  # (column, row) of strings whose whitespace ingestion's strip must judge
    for c, limit, required in _TEXT:
        col = cols[c] = list(map(dict.get, events, repeat(c)))
        types = set(map(type, col))
        if required:
            if types != {str} or min(map(len, col)) == 0:
                raise _NotPlain
        elif not types <= _OPT_STR:
            raise _NotPlain
        if str in types:
            if max(map(len, filter(None, col)), default=0) > limit:
                raise _NotPlain
            if c != "event_type" and not _all_stripped(col):
                unsafe += [(c, i) for i, v in enumerate(col) if v is not None and not _text_ok(v)]
    for c in _NUMBERS:
        col = cols[c] = list(map(dict.get, events, repeat(c)))
        types = set(map(type, col))
        if not types <= _OPT_FLOAT:  # orjson refuses NaN, Infinity and overflowing numbers: floats are finite
            if not types <= _OPT_NUMBER or max(abs(v) for v in col if type(v) is int) > _EXACT_INT:
                raise _NotPlain
            cols[c] = [float(v) if type(v) is int else v for v in col]
    stamps = list(map(dict.get, events, repeat("timestamp")))
    if set(map(type, stamps)) != {str}:
        raise _NotPlain
    distinct = list(dict.fromkeys(stamps))
    parsed = dict(zip(distinct, map(_timestamp, distinct), strict=True))
    cols["timestamp"] = list(map(parsed.__getitem__, stamps))
    extras: list[tuple[int, dict[str, Any]]] = []
    if not all(map(_KNOWN.issuperset, events)):
        for i, e in enumerate(events):
            if not _KNOWN.issuperset(e):
                extra = {k: x for k, x in e.items() if k not in _KNOWN}
                if any(k.strip().lower() in _KNOWN or k.startswith("_") for k in extra):
                    raise _NotPlain  # ingestion would map the key onto a canonical column
                extras.append((i, extra))
    return _finish(events, cols, extras, unsafe, n)


def _timestamp(text: str) -> datetime | None:
    """Naive UTC datetime of an ISO 8601 string the models read the same way; None: outside 1900-2200."""
    if _ISO.fullmatch(text) is None:
        raise _NotPlain
    try:
        if text[-1] == "Z":
            dt = datetime.fromisoformat(text[:-1])  # naive: UTC already
        else:
            dt = datetime.fromisoformat(text)
            if dt.tzinfo is not None:
                dt = dt.astimezone(UTC).replace(tzinfo=None)
    except ValueError:
        raise _NotPlain from None
    return dt if _LO <= dt < _HI else None


def _finish(events: list[dict[str, Any]], cols: dict[str, list[Any]], extras: list[tuple[int, dict[str, Any]]],
            unsafe: list[tuple[str, int]], n: int) -> ParsedBatch:
    customers = sorted(set(cols["customer_id"]))  # as sent, before any stripping
    problems: dict[int, tuple[int, str]] = {}  # row -> (check order, reason): the first check that fails wins

    def fail(row: int, order: int, reason: str) -> None:
        if row not in problems or problems[row][0] > order:
            problems[row] = (order, reason)

    if unsafe:
        import pandas as pd

        from persona.ingest.coerce import as_text, to_objects

        fixed = to_objects(as_text(pd.Series([cols[c][i] for c, i in unsafe], dtype=object))).tolist()
        for (c, i), v in zip(unsafe, fixed, strict=True):
            cols[c][i] = v
    order = {c: k for k, c in enumerate(COLUMNS)}
    types = {t: _TYPE_CACHE.get(t, "") for t in set(cols["event_type"])}  # "": not cached (no type normalizes to it)
    types = {t: _normalize_type(t) if norm == "" else norm for t, norm in types.items()}
    etype = cols["event_type"] = list(map(types.__getitem__, cols["event_type"]))
    if any(t is not None and len(t) > 64 for t in types.values()):  # lower-casing can lengthen a few letters
        for i, t in enumerate(etype):
            if t is not None and len(t) > 64:
                fail(i, order["event_type"], "event_type longer than 64 characters")
    if None in cols["timestamp"]:
        for i, t in enumerate(cols["timestamp"]):
            if t is None:
                fail(i, order["timestamp"], _ts_reason(events[i]))
    for k, c in enumerate(("customer_id", "event_type"), start=len(COLUMNS)):
        if None in cols[c]:
            for i, v in enumerate(cols[c]):
                if v is None:
                    fail(i, k, f"missing {c}")
    _range_check(cols, etype, fail, len(COLUMNS) + 2)
    context = _context(extras, n)
    rejected: list[tuple[int, str, str]] = []
    keep = list(range(n))
    if problems:
        raws = _raw_rows(events)
        rejected = [(i + 1, problems[i][1], raws[i]) for i in sorted(problems)]
        keep = [i for i in range(n) if i not in problems]

    def pick(values: list[Any]) -> list[Any]:
        return values if len(keep) == n else [values[i] for i in keep]

    rows = EventRows(received=n, event_id=pick(cols["event_id"]), customer_id=pick(cols["customer_id"]),
                     product_id=pick(cols["product_id"]), event_type=pick(etype), ts=pick(cols["timestamp"]),
                     value=pick(cols["value"]), quantity=pick(cols["quantity"]), revenue=pick(cols["revenue"]),
                     channel=pick(cols["channel"]), session_id=pick(cols["session_id"]), context=pick(context),
                     rejected=rejected)
    return ParsedBatch(rows=rows, customers=customers)


def _range_check(cols: dict[str, list[Any]], etype: list[str | None], fail: Any, order: int) -> None:
    """Ingestion's range rule on the amounts (:func:`persona.ingest.schema.range_reasons`: no negative value, quantity
    or revenue on a known event type but a refund or a removal from the cart), checked after the missing columns as the
    coercer checks it; only rows with a negative amount are looked at."""
    amounts = ("value", "quantity", "revenue")
    rows = sorted({i for c in amounts for i, v in enumerate(cols[c]) if v is not None and v < 0})
    if not rows:
        return
    import pandas as pd

    from persona.ingest.schema import SPECS, range_reasons

    frame = pd.DataFrame({"event_type": [etype[i] for i in rows], **{c: [cols[c][i] for i in rows] for c in amounts}})
    for i, why in zip(rows, range_reasons(SPECS["events"], frame), strict=True):
        if why is not None:
            fail(i, order, why)


def _normalize_type(raw: str) -> str | None:
    """An event type as ingestion stores it (stripped, lower case, runs of spaces/hyphens as ``_``); None: empty."""
    if _PLAIN_TYPE.fullmatch(raw):
        norm: str | None = raw
    else:
        import pandas as pd

        from persona.ingest.coerce import as_text, to_objects

        text = as_text(pd.Series([raw], dtype=object)).str.lower().str.replace(r"[\s\-]+", "_", regex=True)
        norm = to_objects(text).iloc[0]
    if len(_TYPE_CACHE) > 10_000:
        _TYPE_CACHE.clear()
    _TYPE_CACHE[raw] = norm
    return norm


def _ts_reason(event: dict[str, Any]) -> str:
    """Ingestion's reason for a timestamp outside its range, showing the value as the models write it."""
    from persona.ingest.coerce import TS_HINT

    shown = EventIn.model_validate_json(orjson.dumps(event)).model_dump(mode="json")["timestamp"].strip()[:60]
    return f"unparseable timestamp '{shown}' ({TS_HINT})"


def _raw_rows(events: list[dict[str, Any]]) -> list[str]:
    """Each event as the quarantine file shows it: the models' dump, as one JSON object (slow; rejections only)."""

    frame = dump_frame([EventIn.model_validate_json(orjson.dumps(e)).model_dump(mode="json") for e in events])
    return [frame.iloc[i].to_json() for i in range(len(frame))]


def dump_frame(rows: list[dict[str, Any]]) -> Any:
    """The models' dumps as one frame, without the optional columns no event fills (how the sink reads a batch)."""
    import pandas as pd

    frame = pd.DataFrame(rows, dtype=object)  # as JSON lines are read: an extra 3 stays 3, not 3.0
    empty = [c for c in frame.columns if frame[c].isna().all() and c not in ("customer_id", "event_type", "timestamp")]
    return frame.drop(columns=empty) if empty else frame


def _context(extras: list[tuple[int, dict[str, Any]]], n: int) -> list[dict[str, Any] | None]:
    """Non-canonical keys of each event as ingestion keeps them (its ``context``); None where an event has none."""
    out: list[dict[str, Any] | None] = [None] * n
    if not extras:
        return out
    names: dict[str, None] = {}
    plain = True
    for _, extra in extras:
        for k, v in extra.items():
            names.setdefault(k, None)
            if plain and v is not None and not (type(v) is str and _text_ok(v)):
                plain = False
    if plain:  # strings that need no stripping: kept as they are, missing ones left out
        for i, extra in extras:
            d = {k: extra[k] for k in names if extra.get(k) is not None}
            out[i] = d or None
        return out
    import pandas as pd

    from persona.ingest.coerce import _extras

    rows: list[dict[str, Any]] = [{}] * n
    for i, extra in extras:
        rows[i] = extra
    frame = pd.DataFrame(rows, columns=list(names), dtype=object)  # 3 stays 3, not 3.0
    frame = frame[[c for c in frame.columns if not frame[c].isna().all()]]
    if frame.shape[1] == 0:
        return out
    return list(_extras(frame).tolist())


def json_text(v: dict[str, Any] | str | None) -> str | None:
    """A context dict as the bulk writer stores JSON (compact, UTF-8 as is); text is JSON already."""
    if v is None or isinstance(v, str):
        return v
    return dumps(v)
