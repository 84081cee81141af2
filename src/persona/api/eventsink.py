"""The write path of ``POST /v1/events``: ingestion's validation and writer, without a per-request ingest run.

File ingestion records one ``ingest_runs`` row per file, checks indexes and prefetches chunks in a
thread; for an HTTP batch of at most 1,000 events that overhead dominates. The sink keeps one
:class:`~persona.ingest.coerce.ChunkCoercer` and one :class:`~persona.ingest.writer.EntityWriter` for
the life of the process (the writer remembers the customers and products it has already stubbed),
and writes each batch in one transaction: same validation, same event-id de-duplication (a unique
constraint, so concurrent writers and retried batches never store an event twice), same stubs.

Concurrent requests are merged (group commit): while one transaction is being written, batches that
arrive wait and are then written together in the next one, so the database sees few, larger
transactions under load. Rows that fail validation go to a quarantine file, as in file ingestion.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)
MAX_GROUP_ROWS = 20_000  # rows merged into one transaction at most


@dataclass
class SinkResult:
    """What one batch did: ``received == accepted + duplicates + rejected``."""

    received: int
    accepted: int
    duplicates: int
    rejected: int
    quarantine: str | None = None


class _Pending:
    __slots__ = ("done", "error", "frame", "result")

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self.done = threading.Event()
        self.result: SinkResult | None = None
        self.error: BaseException | None = None


class EventSink:
    """Validated, idempotent, group-committed writes of API event batches."""

    def __init__(self, store: Any) -> None:
        from persona.ingest.coerce import ChunkCoercer
        from persona.ingest.mapping import resolve_columns
        from persona.ingest.quarantine import Quarantine
        from persona.ingest.schema import get_spec
        from persona.ingest.writer import EntityWriter
        from persona.privacy.crypto import PIICipher

        self.store = store
        self.spec = get_spec("events")
        self._coercers: dict[tuple[str, ...], Any] = {}
        self._resolve = lambda cols: ChunkCoercer(self.spec, resolve_columns(self.spec, cols, {}))
        self.writer = EntityWriter(self.spec, PIICipher.from_settings(store.settings), datetime.now(UTC))
        self.quarantine = Quarantine(store.settings.quarantine_dir / f"events-api-{datetime.now(UTC):%Y%m%dT%H%M%S}.csv")
        self._queue: list[_Pending] = []
        self._qlock = threading.Lock()
        self._write_lock = threading.Lock()
        store.ensure_indexes(self.spec.table)

    def _coercer(self, columns: list[str]) -> Any:
        key = tuple(columns)
        c = self._coercers.get(key)
        if c is None:
            c = self._coercers[key] = self._resolve(columns)
        return c

    def write(self, rows: list[dict[str, Any]]) -> SinkResult:
        """Validate and store one batch; returns once it is committed (possibly together with others)."""
        frame = pd.DataFrame(rows)
        for col in list(frame.columns):
            if frame[col].isna().all() and col not in ("customer_id", "event_type", "timestamp"):
                frame = frame.drop(columns=col)
        item = _Pending(frame)
        with self._qlock:
            self._queue.append(item)
        while not item.done.is_set():
            if self._write_lock.acquire(timeout=0.05):
                try:
                    if not item.done.is_set():
                        self._drain()
                finally:
                    self._write_lock.release()
        if item.error is not None:
            raise item.error
        assert item.result is not None
        return item.result

    def _drain(self) -> None:
        with self._qlock:
            group, rows = [], 0
            while self._queue and (not group or rows + len(self._queue[0].frame) <= MAX_GROUP_ROWS):
                p = self._queue.pop(0)
                group.append(p)
                rows += len(p.frame)
        if not group:
            return
        try:
            results = self._write_group([p.frame for p in group])
            for p, r in zip(group, results, strict=True):
                p.result = r
        except BaseException as exc:  # noqa: BLE001 - every waiting request gets the error
            for p in group:
                p.error = exc
        finally:
            for p in group:
                p.done.set()

    def _write_group(self, frames: list[pd.DataFrame]) -> list[SinkResult]:
        """One transaction for several batches; per-batch counts from the event ids actually inserted."""
        sizes = [len(f) for f in frames]
        allraw = pd.concat(frames, ignore_index=True, sort=False) if len(frames) > 1 else frames[0].reset_index(drop=True)
        coerced = self._coercer(list(allraw.columns)).coerce(allraw)  # one pass over the whole group
        ok = coerced.ok.to_numpy()
        valid_all = coerced.frame
        bounds = np.cumsum([0, *sizes])
        prepared = []
        for b, n in enumerate(sizes):
            lo, hi = int(bounds[b]), int(bounds[b + 1])
            sel = np.zeros(len(ok), dtype=bool)
            sel[lo:hi] = True
            bad = [(int(i) - lo + 1, str(coerced.reasons.iat[i]), allraw.iloc[int(i)].to_json()) for i in np.flatnonzero(sel & ~ok)]
            prepared.append((valid_all[sel & ok], bad, n))
        prepared = [(self._with_ids(v), bad, n) for v, bad, n in prepared]
        valid = [p[0] for p in prepared if len(p[0])]
        total_new = 0
        new_ids: set[str] = set()
        if valid:
            allf = pd.concat(valid, ignore_index=True)
            with self.store.bulk() as w:
                before = self._existing(w, allf)
                result = self.writer.write(w, self.writer.prepare(allf, self.store.dialect))
                total_new = result.accepted
            new_ids = set(allf["event_id"].astype(str)) - before
        out = []
        for valid_f, bad, n in prepared:
            if bad:
                self.quarantine.write(bad)
            ids = valid_f["event_id"].astype(str) if len(valid_f) else pd.Series([], dtype=str)
            acc = int(ids.isin(new_ids).sum()) if len(ids) else 0
            new_ids -= set(ids[ids.isin(new_ids)])  # an id repeated across merged batches counts once
            out.append(SinkResult(received=n, accepted=acc, duplicates=n - len(bad) - acc, rejected=len(bad),
                                  quarantine=str(self.quarantine.path) if bad else None))
        if sum(r.accepted for r in out) != total_new:  # pragma: no cover - invariant
            log.warning("event sink count mismatch: per-batch %d vs inserted %d", sum(r.accepted for r in out), total_new)
        return out

    @staticmethod
    def _with_ids(f: pd.DataFrame) -> pd.DataFrame:
        """Events without an id get the content hash file ingestion gives them (so retries still de-duplicate)."""
        if not len(f) or ("event_id" in f.columns and f["event_id"].notna().all()):
            return f
        from persona.ingest.hashing import EVENT_KEYS, row_hashes

        canon = pd.DataFrame({
            "customer_id": f["customer_id"],
            "product_id": f["product_id"] if "product_id" in f.columns else None,
            "event_type": f["event_type"],
            "ts": f["timestamp"].astype("int64"),
            **{c: (f[c] if c in f.columns else np.nan) for c in ("value", "quantity", "revenue")},
        }, index=f.index)
        hashed = "h:" + pd.Series(row_hashes(canon, EVENT_KEYS), index=f.index)
        f = f.copy()
        f["event_id"] = f["event_id"].where(f["event_id"].notna(), hashed) if "event_id" in f.columns else hashed
        return f

    def _existing(self, w: Any, frame: pd.DataFrame) -> set[str]:
        """Event ids of ``frame`` already stored (so per-batch accepted/duplicate counts are exact)."""
        from sqlalchemy import select

        from persona.store.models import Event

        ids = frame["event_id"].astype(str).unique().tolist()
        found: set[str] = set()
        for i in range(0, len(ids), 900):
            found.update(w.execute(select(Event.event_id).where(Event.event_id.in_(ids[i:i + 900]))).scalars())
        return found
