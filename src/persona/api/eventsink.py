"""The write path of ``POST /v1/events``: ingestion's validation and de-duplication, without a per-request ingest run.

File ingestion records one ``ingest_runs`` row per file, checks indexes and prefetches chunks in a
thread; for an HTTP batch of at most 1,000 events that overhead dominates. The sink writes each batch
with the same rules: same validation (plain batches arrive already typed from
:mod:`persona.api.eventbatch`; others are coerced here by :class:`~persona.ingest.coerce.ChunkCoercer`),
same content hash for events without an id, same stubs for unknown customers and products, same
event-id de-duplication (a unique constraint, so concurrent writers and retried batches never store an
event twice). Rows that fail validation go to a quarantine file, as in file ingestion.

Stub pseudonyms come from the workspace's current key (:class:`~persona.privacy.keysource.CipherSource`): a key
rotation is followed within a second, and the few stubs written with the retired key in that second (after the
rotation had rewritten the table) are re-keyed by the next write. While a rotation runs, or once this process's
``PERSONA_SECRET_KEY`` was retired, batches are refused (503) instead of being written under the wrong key.

Concurrent requests are merged (group commit): while one transaction is being written, batches that
arrive wait and are then written together in the next one, so the database sees few, larger
transactions under load. Within the transaction each batch is inserted on its own, so the rows each
insert reports are that batch's new events (an id sent twice in one group counts for the first batch).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import chain, repeat
from operator import itemgetter
from typing import Any

import numpy as np
import pandas as pd

from persona.api.eventbatch import EventRows, dump_frame, json_text
from persona.api.live import ERASURE_CHECK_SECONDS
from persona.ingest.schema import KNOWN_EVENT_TYPES
from persona.privacy.crypto import PIICipher
from persona.privacy.gdpr import erased_since
from persona.privacy.keysource import CipherSource

MAX_GROUP_ROWS = 20_000  # rows merged into one transaction at most
_KNOWN_CAP = 2_000_000  # stubbed ids remembered; beyond it the set restarts
_KNOWN_TYPES = frozenset(KNOWN_EVENT_TYPES)
_INSERT_COLUMNS = ["event_id", "customer_id", "product_id", "event_type", "ts", "value", "quantity", "revenue", "channel",
                   "session_id", "context"]


@dataclass
class SinkResult:
    """What one batch did: ``received == accepted + duplicates + rejected``."""

    received: int
    accepted: int
    duplicates: int
    rejected: int
    quarantine: str | None = None
    #: valid events whose type Persona does not use (stored as they are), by type: ``{"order_completed": 3}``
    unknown_event_types: dict[str, int] = field(default_factory=dict)


@dataclass
class _Prepared:
    """A typed batch ready to write: the encoded first copy of each event id, and the customers/products they name."""

    rows: EventRows
    encoded: Any  # EncodedRows, or None when no row is valid
    customers: list[str]
    products: list[str | None]


class _Pending:
    __slots__ = ("batch", "done", "error", "result")

    def __init__(self, batch: _Prepared | pd.DataFrame) -> None:
        self.batch = batch
        self.done = False  # guarded by EventSink._cond
        self.result: SinkResult | None = None
        self.error: BaseException | None = None

    @property
    def size(self) -> int:
        return self.batch.rows.received if isinstance(self.batch, _Prepared) else len(self.batch)


class EventSink:
    """Validated, idempotent, group-committed writes of API event batches.

    Args:
        store: the workspace store.
        keys: where the current key comes from (the service shares one); default a new one.
    """

    def __init__(self, store: Any, keys: CipherSource | None = None) -> None:
        from persona.ingest.coerce import ChunkCoercer
        from persona.ingest.mapping import resolve_columns
        from persona.ingest.quarantine import Quarantine
        from persona.ingest.schema import get_spec

        self.store = store
        self.spec = get_spec("events")
        self._coercers: dict[tuple[str, ...], Any] = {}
        self._resolve = lambda cols: ChunkCoercer(self.spec, resolve_columns(self.spec, cols, {}))
        self.keys = keys or CipherSource(store.settings)
        #: customer stubs written lately: (clock after commit, cipher, ids), until the key is confirmed unchanged
        self._recent_stubs: list[tuple[float, PIICipher, list[str]]] = []
        self._known: dict[str, set[str]] = {"customers": set(), "products": set()}
        self.quarantine = Quarantine(store.settings.quarantine_dir / f"events-api-{datetime.now(UTC):%Y%m%dT%H%M%S}.csv")
        self._queue: list[_Pending] = []
        self._cond = threading.Condition()  # guards the queue, ``_writing`` and each item's ``done``
        self._writing = False
        store.ensure_indexes(self.spec.table)
        from persona.privacy.tombstones import erased_customers

        #: erased customers, whose events are never stored again (as file ingestion leaves them out): read once here,
        #: then erasures through this process (:meth:`forget`) at once and others' within ``ERASURE_CHECK_SECONDS``
        self.erased: set[str] = set(erased_customers(store))
        self._erased_checked, self._erased_since = time.monotonic(), datetime.now(UTC)
        self._erased_matcher: tuple[int, Any] | None = None  # (how many ids it was made of, the matcher of rejects)

    @property
    def cipher(self) -> PIICipher:
        """The cipher stub pseudonyms are made with now."""
        return self.keys.cipher()

    def forget(self, customer_id: str) -> None:
        """An erased customer: their events are left out from now on (counted as duplicates, as ingestion does)."""
        self.erased.add(str(customer_id))

    def _check_erasures(self) -> None:
        """Learn of erasures made by other processes (the CLI, another worker) since the last look."""
        if time.monotonic() - self._erased_checked < ERASURE_CHECK_SECONDS:
            return
        self._erased_checked = time.monotonic()
        since, self._erased_since = self._erased_since, datetime.now(UTC)
        self.erased.update(erased_since(self.store, since))

    def _coercer(self, columns: list[str]) -> Any:
        key = tuple(columns)
        c = self._coercers.get(key)
        if c is None:
            c = self._coercers[key] = self._resolve(columns)
        return c

    def write(self, rows: list[dict[str, Any]]) -> SinkResult:
        """Validate (with ingestion's coercer) and store one batch of events as the models dump them."""
        self.keys.writable(self.store)
        self._check_erasures()
        return self._submit(dump_frame(rows))

    def write_rows(self, rows: EventRows) -> SinkResult:
        """Store one batch that :func:`persona.api.eventbatch.read_batch` already validated and typed.

        The batch is hashed, de-duplicated and encoded here, in the caller's thread, so that work overlaps
        with the transaction in progress; the writer only inserts.
        """
        self.keys.writable(self.store)
        self._check_erasures()
        return self._submit(_prepare(rows, self.store.dialect, self.erased))

    def _submit(self, batch: _Prepared | pd.DataFrame) -> SinkResult:
        """Queue a batch; returns once it is committed (possibly together with others).

        The first waiting thread that finds no write in progress writes everything queued (up to
        ``MAX_GROUP_ROWS``) in one transaction; when it is done every waiter wakes up, those whose batch
        was written return at once, and one of the others writes the next group.
        """
        item = _Pending(batch)
        with self._cond:
            self._queue.append(item)
            while not item.done:
                if self._writing:
                    self._cond.wait()
                    continue
                group, rows = [], 0
                while self._queue and (not group or rows + self._queue[0].size <= MAX_GROUP_ROWS):
                    group.append(self._queue.pop(0))
                    rows += group[-1].size
                self._writing = True
                self._cond.release()
                try:
                    self._write(group)
                finally:
                    self._cond.acquire()
                    self._writing = False
                    for p in group:
                        p.done = True
                    self._cond.notify_all()
        if item.error is not None:
            raise item.error
        assert item.result is not None
        return item.result

    def _write(self, group: list[_Pending]) -> None:
        """Write one group; every item gets its result, or the error if the transaction failed."""
        try:
            for p, r in zip(group, self._write_group([p.batch for p in group]), strict=True):
                p.result = r
        except BaseException as exc:  # noqa: BLE001 - every waiting request gets the error
            for p in group:
                p.error = exc

    def _write_group(self, batches: list[_Prepared | pd.DataFrame]) -> list[SinkResult]:
        """One transaction for several batches; each batch's counts from the rows its own insert added."""
        frames = [b for b in batches if isinstance(b, pd.DataFrame)]
        coerced = iter(self._coerce_frames(frames) if frames else [])
        dialect = self.store.dialect
        ready = [b if isinstance(b, _Prepared) else _prepare(next(coerced), dialect, self.erased) for b in batches]
        accepted = [0] * len(ready)
        if any(p.encoded is not None for p in ready):
            cipher = self._rekey_stubs()
            new_stubs: dict[str, list[str]] = {}
            with self.store.bulk() as w:
                new_stubs["customers"] = self._stubs(w, "customers", [p.customers for p in ready], cipher)
                new_stubs["products"] = self._stubs(w, "products", [p.products for p in ready], cipher)
                for k, p in enumerate(ready):
                    if p.encoded is not None:
                        accepted[k] = w.insert("events", p.encoded, on_conflict="ignore", key=["event_id"])
            if new_stubs["customers"]:
                self._recent_stubs.append((self.keys.clock(), cipher, new_stubs["customers"]))
            for table, new in new_stubs.items():  # remembered once committed
                known = self._known[table]
                if len(known) + len(new) > _KNOWN_CAP:
                    known.clear()
                known.update(new)
        typed = [p.rows for p in ready]
        out = []
        for b, acc in zip(typed, accepted, strict=True):
            rejected = self._not_erased(b.rejected)
            if rejected:
                self.quarantine.write(rejected)
            out.append(SinkResult(received=b.received, accepted=acc, duplicates=b.received - len(rejected) - acc,
                                  rejected=len(rejected), quarantine=str(self.quarantine.path) if rejected else None,
                                  unknown_event_types=_unknown_types(b.event_type)))
        return out

    def _not_erased(self, rejected: list[tuple[int, str, str]]) -> list[tuple[int, str, str]]:
        """The rejected rows to quarantine: none that names an erased customer (left out and counted as duplicates, as
        their valid events are and as file ingestion does)."""
        if not rejected or not self.erased:
            return rejected
        from persona.ingest.quarantine import Person, PersonMatcher

        if self._erased_matcher is None or self._erased_matcher[0] != len(self.erased):  # erasures only add ids
            self._erased_matcher = (len(self.erased), PersonMatcher(Person(c) for c in list(self.erased)))
        matcher = self._erased_matcher[1]
        return [r for r in rejected if matcher.owner(f"{r[1]}\n{r[2]}") is None]

    def _rekey_stubs(self) -> PIICipher:
        """Give the current key's pseudonyms to the stubs lately written with a key rotated away since; the cipher.

        A stub committed before the rotation began was rewritten by it; one committed after its commit (this
        process had not seen the new key yet) still has the old pseudonym: only such rows match the update.
        Stubs written with the current key before it was last confirmed unchanged are dropped from the list.
        """
        cur = self.keys.cipher()
        stale = [(c, ids) for _, c, ids in self._recent_stubs if c.fingerprint != cur.fingerprint]
        if stale:
            from sqlalchemy import text

            sql = text("UPDATE customers SET customer_key = :new WHERE customer_id = :c AND customer_key = :old")
            with self.store.engine.begin() as conn:
                for old, ids in stale:
                    conn.execute(sql, [{"c": c, "old": o, "new": n}
                                       for c, o, n in zip(ids, old.pseudonyms(ids), cur.pseudonyms(ids), strict=True)])
        confirmed = self.keys.confirmed_at
        self._recent_stubs = [e for e in self._recent_stubs if e[1].fingerprint == cur.fingerprint and e[0] >= confirmed]
        return cur

    def _stubs(self, w: Any, table: str, columns: list[list[str]] | list[list[str | None]], cipher: PIICipher) -> list[str]:
        """Stub rows (``is_stub``) for the customers or products not seen before; returns the ids sent."""
        fresh = set(chain.from_iterable(columns))
        fresh.discard(None)
        fresh -= self._known[table]
        if not fresh:
            return []
        new = sorted(fresh)  # type: ignore[type-var] # None was discarded
        if table == "customers":
            rows = pd.DataFrame({"customer_id": new, "customer_key": cipher.pseudonyms(new), "is_stub": True})
        else:
            rows = pd.DataFrame({"product_id": new, "is_stub": True})
        w.insert(table, rows, on_conflict="ignore")
        return new

    def _coerce_frames(self, frames: list[pd.DataFrame]) -> list[EventRows]:
        """Batches the models validated, through ingestion's coercer (one pass over all of them), as typed rows."""
        sizes = [len(f) for f in frames]
        allraw = pd.concat(frames, ignore_index=True, sort=False) if len(frames) > 1 else frames[0].reset_index(drop=True)
        coerced = self._coercer(list(allraw.columns)).coerce(allraw)
        ok = coerced.ok.to_numpy()
        bounds = np.cumsum([0, *sizes])
        out = []
        for b, n in enumerate(sizes):
            lo, hi = int(bounds[b]), int(bounds[b + 1])
            bad = [(int(i) + 1, str(coerced.reasons.iat[lo + int(i)]), allraw.iloc[lo + int(i)].to_json())
                   for i in np.flatnonzero(~ok[lo:hi])]
            out.append(_from_frame(coerced.frame.iloc[lo:hi][ok[lo:hi]], n, bad))
        return out


def _unknown_types(types: list[str]) -> dict[str, int]:
    """A batch's valid events of types Persona does not use, by type, most first: what file ingestion's
    ``unknown_event_types`` counts (duplicates included), against the same ``KNOWN_EVENT_TYPES``."""
    if _KNOWN_TYPES.issuperset(types):  # the usual batch: one C-level scan
        return {}
    counts = Counter(t for t in types if t not in _KNOWN_TYPES)
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _from_frame(f: pd.DataFrame, received: int, rejected: list[tuple[int, str, str]]) -> EventRows:
    """The coercer's typed frame as :class:`EventRows`."""
    from persona.ingest.coerce import to_objects

    n = len(f)

    def text(c: str) -> list[Any]:
        return to_objects(f[c]).tolist() if c in f.columns else [None] * n

    def number(c: str) -> list[Any]:
        if c not in f.columns:
            return [None] * n
        v = f[c].to_numpy(dtype="float64", na_value=np.nan)
        return [None if x != x else x for x in v.tolist()]

    ts = f["timestamp"].dt.tz_convert(None).astype("datetime64[us]").to_numpy().astype(object).tolist() if n else []
    return EventRows(received=received, event_id=text("event_id"), customer_id=text("customer_id"),
                     product_id=text("product_id"), event_type=text("event_type"), ts=ts, value=number("value"),
                     quantity=number("quantity"), revenue=number("revenue"), channel=text("channel"),
                     session_id=text("session_id"), context=text("_extras"), rejected=rejected)


def _with_ids(b: EventRows) -> EventRows:
    """Events without an id get the content hash file ingestion gives them (so retries still de-duplicate)."""
    missing = [i for i, e in enumerate(b.event_id) if e is None]
    if not missing:
        return b
    from persona.ingest.hashing import EVENT_KEYS, row_hashes

    def nums(col: list[float | None]) -> np.ndarray:
        return np.array([np.nan if col[i] is None else col[i] for i in missing], dtype="float64")

    canon = pd.DataFrame({
        "customer_id": pd.Series([b.customer_id[i] for i in missing], dtype=object),
        "product_id": pd.Series([b.product_id[i] for i in missing], dtype=object),
        "event_type": pd.Series([b.event_type[i] for i in missing], dtype=object),
        "ts": np.array([b.ts[i] for i in missing], dtype="datetime64[us]").astype("datetime64[ns]").astype("int64"),
        "value": nums(b.value), "quantity": nums(b.quantity), "revenue": nums(b.revenue),
    })
    hashed = row_hashes(canon, EVENT_KEYS)
    ids = list(b.event_id)
    for i, h in zip(missing, hashed.tolist(), strict=True):
        ids[i] = "h:" + h
    b.event_id = ids
    return b


def _prepare(b: EventRows, dialect: str, erased: set[str] | frozenset[str] = frozenset()) -> _Prepared:
    """Content hashes for events without an id, the first copy of each id (none of an ``erased`` customer), encoded
    for the bulk writer."""
    order = _first_copies(_with_ids(b))
    if erased and not erased.isdisjoint(b.customer_id):
        order = [i for i in order if b.customer_id[i] not in erased]
    if not order:
        return _Prepared(rows=b, encoded=None, customers=[], products=[])
    whole = len(order) == len(b)
    return _Prepared(rows=b, encoded=_encode(b, order, dialect),
                     customers=b.customer_id if whole else _pick(b.customer_id, order),
                     products=b.product_id if whole else _pick(b.product_id, order))


def _first_copies(b: EventRows) -> list[int]:
    """Rows to write: the first copy of each event id (later copies are duplicates, as in ingestion), in key order."""
    n = len(b.event_id)
    first = dict(zip(reversed(b.event_id), range(n - 1, -1, -1), strict=True))  # the earliest row of an id is assigned last
    return list(map(first.__getitem__, sorted(first)))


def _pick(values: list[Any], order: list[int]) -> list[Any]:
    """``values`` at the positions ``order`` (C-level gather)."""
    if not order:
        return []
    got = itemgetter(*order)(values)
    return [got] if len(order) == 1 else list(got)


def _encode(b: EventRows, order: list[int], dialect: str) -> Any:
    """The rows ``order`` picks from one batch, encoded for the bulk writer."""
    from persona.store.bulk import EncodedRows, encode_rows, stage_rows

    if dialect == "sqlite":
        ts = list(map(datetime.isoformat, b.ts, repeat(" "), repeat("microseconds")))
        ctx = [json_text(c) for c in b.context] if any(c is not None for c in b.context) else b.context
        cols = (b.event_id, b.customer_id, b.product_id, b.event_type, ts, b.value, b.quantity, b.revenue, b.channel,
                b.session_id, ctx)
        rows = _pick(list(zip(*cols, strict=True)), order)
        # staged as a small in-memory database here, in the request's thread: the group's transaction then inserts it
        # with one statement that runs without the GIL, instead of binding row by row while other requests parse
        payload = stage_rows(_INSERT_COLUMNS, rows) or rows
        return EncodedRows(table="events", columns=list(_INSERT_COLUMNS), dialect=dialect, payload=payload, count=len(rows))
    frame = pd.DataFrame({
        "event_id": b.event_id, "customer_id": b.customer_id, "product_id": pd.Series(b.product_id, dtype=object),
        "event_type": b.event_type, "ts": pd.to_datetime(pd.Series(b.ts, dtype="datetime64[us]")).dt.tz_localize("UTC"),
        **{c: pd.Series(getattr(b, c), dtype="float64") for c in ("value", "quantity", "revenue")},
        "channel": pd.Series(b.channel, dtype=object), "session_id": pd.Series(b.session_id, dtype=object),
        "context": pd.Series(b.context, dtype=object),
    }).iloc[order]
    return encode_rows("events", frame, dialect, unique_key="event_id")
