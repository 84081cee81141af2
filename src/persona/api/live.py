"""The live loop inside the service: new events refresh profiles and recommendations within a second.

One background thread per worker process polls the ``events`` table for rows above a watermark (its
auto-increment ``id``), so an event posted to *any* worker (or ingested by a file job) reaches every
worker: the customers it names are marked live in the :class:`RecommendationService` (their lists are
folded in from the current history) and their profile rows are recomputed with the workspace's fitted
profile builder (without refitting it). It also reloads the served model when the registry's active
version changes (a retrain's promotion or a rollback), and forgets customers erased through another
process (their lists are dropped and they get cold-start lists only).
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from persona.privacy.gdpr import erased_since

log = logging.getLogger(__name__)

POLL_SECONDS = 0.25
MODEL_CHECK_SECONDS = 2.0
ERASURE_CHECK_SECONDS = 1.0  # erasures made through another worker (or the CLI) reach this one within about this long
MAX_PROFILE_BATCH = 500  # profile rows recomputed per tick at most (the rest wait for the next ticks)
MAX_TICK_EVENTS = 200_000  # new events one tick takes in at most (the rest wait for the next ticks)


class ProfileRefresher:
    """Recompute the profile rows of a few customers with the stored, already fitted profile builder."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self._builder: Any = None
        self._mtime: float | None = None

    def _load(self) -> Any:
        path = self.store.settings.profile_builder_path
        if not path.is_file():  # checked before importing persona.profiles: ~1 s of CPU a server without profiles never needs
            return None
        from persona.profiles.builder import ProfileBuilder

        mtime = path.stat().st_mtime
        if self._builder is None or mtime != self._mtime:
            self._builder, self._mtime = ProfileBuilder.load(path), mtime
        return self._builder

    def refresh(self, customer_ids: list[str]) -> int:
        """Rewrite the profile rows of ``customer_ids``; 0 when profiles were never built."""
        if not customer_ids:
            return 0
        builder = self._load()
        if builder is None:
            return 0
        from persona.profiles.repository import write_profiles
        from persona.profiles.source import load_shop, to_utc

        sub = load_shop(self.store, customer_ids)
        as_of = to_utc(self.store.read_frame("SELECT MAX(ts) AS m FROM events")["m"]).iloc[0]
        frame = builder.transform(sub, as_of, customer_ids)
        return write_profiles(self.store, frame, watermark=int(builder.watermark_))


class LiveLoop:
    """Background thread: poll new events, mark their customers live, refresh profiles, follow promotions."""

    def __init__(self, store: Any, recs: Any, *, poll_seconds: float = POLL_SECONDS, profiles: bool = True) -> None:
        self.store, self.recs, self.poll_seconds = store, recs, poll_seconds
        self.profiles = ProfileRefresher(store) if profiles else None
        self.watermark = self._max_id()
        self.pending: set[str] = set()
        self.ticks = 0
        self.profiles_refreshed = 0
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_model_check = time.monotonic()
        self._last_erasure_check = 0.0
        self._erased_since = datetime(1970, 1, 2, tzinfo=UTC)  # first pass: everyone ever erased (the model may predate it)
        self.forgotten = 0

    def _max_id(self) -> int:
        m = self.store.read_frame("SELECT MAX(id) AS m FROM events")["m"].iloc[0]
        return 0 if m is None or pd.isna(m) else int(m)

    def start(self) -> LiveLoop:
        """Start the thread (daemon; :meth:`stop` ends it)."""
        self._thread = threading.Thread(target=self._run, name="persona-live-loop", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the thread and wait for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.tick()
                self.last_error = None
            except Exception as exc:  # noqa: BLE001 - the loop must survive a bad tick (e.g. DB restart)
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("live loop tick failed: %s", self.last_error)

    def tick(self) -> dict[str, int]:
        """One pass: new events since the watermark → live customers and refreshed profiles."""
        self.ticks += 1
        n_new, changed = self._new_customers()
        if changed:
            self.recs.mark_changed(changed)
            self.pending.update(changed)
        refreshed = 0
        if self.profiles is not None and self.pending:
            batch = sorted(self.pending)[:MAX_PROFILE_BATCH]
            refreshed = self.profiles.refresh(batch)
            self.pending.difference_update(batch)
            self.profiles_refreshed += refreshed
        if time.monotonic() - self._last_erasure_check > ERASURE_CHECK_SECONDS:
            self._last_erasure_check = time.monotonic()
            since, self._erased_since = self._erased_since, datetime.now(UTC)
            for cid in erased_since(self.store, since):
                if not self.recs.is_forgotten(cid):
                    self.recs.forget(cid)
                    self.forgotten += 1
        if time.monotonic() - self._last_model_check > MODEL_CHECK_SECONDS:
            self._last_model_check = time.monotonic()
            self.recs.refresh_model()
        return {"events": n_new, "customers": len(changed), "profiles": refreshed}

    def _new_customers(self) -> tuple[int, list[str]]:
        """Events above the watermark (at most ``MAX_TICK_EVENTS``; the watermark moves past them) and the customers
        they name. The database does the counting and de-duplication: under a stream of API batches a tick sees
        tens of thousands of rows, which as a DataFrame cost as much CPU as writing them."""
        from sqlalchemy import text

        with self.store.engine.connect() as conn:
            hi, n = conn.execute(text("SELECT MAX(id), COUNT(*) FROM (SELECT id FROM events WHERE id > :w ORDER BY id "
                                      "LIMIT :n) AS t"), {"w": self.watermark, "n": MAX_TICK_EVENTS}).one()
            if not n:
                return 0, []
            ids = conn.execute(text("SELECT DISTINCT customer_id FROM events WHERE id > :w AND id <= :hi"),
                               {"w": self.watermark, "hi": int(hi)}).scalars().all()
        self.watermark = int(hi)
        return int(n), sorted({str(c) for c in ids})

    def status(self) -> dict[str, Any]:
        """For /readyz and /v1/models: watermark, backlog, last error."""
        return {"watermark": self.watermark, "pending_profiles": len(self.pending), "ticks": self.ticks,
                "profiles_refreshed": self.profiles_refreshed, "last_error": self.last_error,
                "running": bool(self._thread and self._thread.is_alive())}
