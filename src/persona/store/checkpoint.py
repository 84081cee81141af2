"""Background WAL checkpoints for a long-running SQLite writer such as the API service.

In WAL mode SQLite copies the log back into the database file ("checkpoint") inside whichever commit
pushes the log past ``wal_autocheckpoint`` pages, and that checkpoint syncs the file to disk. Under a
stream of event batches nearly every group commit crosses the threshold, so each request waited for a
disk sync it did not need. :class:`WalCheckpointer` moves that work to a thread of its own: the
service's connections only checkpoint inline as a safety net (at ``inline_pages``), and a passive
checkpoint runs every ``interval`` seconds without blocking readers or writers. Durability is
unchanged: with ``synchronous=NORMAL`` a commit is durable once it is in the log either way.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from typing import Any, Self

from sqlalchemy import Engine, event

log = logging.getLogger(__name__)


class WalCheckpointer:
    """Run passive WAL checkpoints in a background thread for a SQLite engine (no-op elsewhere)."""

    def __init__(self, engine: Engine, *, interval: float = 0.5, inline_pages: int = 16384) -> None:
        self.engine = engine
        self.interval = interval
        self.inline_pages = inline_pages
        self.checkpoints_ = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def active(self) -> bool:
        """Whether this engine is SQLite on a file (the only case with a WAL to checkpoint)."""
        return self.engine.dialect.name == "sqlite" and bool(self.engine.url.database) \
            and self.engine.url.database != ":memory:"

    def start(self) -> Self:
        """Raise the inline threshold on the engine's connections and start the checkpoint thread."""
        if not self.active or self._thread is not None:
            return self
        event.listen(self.engine, "checkout", self._on_checkout)
        self._thread = threading.Thread(target=self._run, name="persona-wal-checkpoint", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the thread after one last checkpoint (open connections keep the raised threshold)."""
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join(timeout=30)
        self._thread = None
        event.remove(self.engine, "checkout", self._on_checkout)

    def _on_checkout(self, dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        if record.info.get("wal_autocheckpoint") != self.inline_pages:  # once per connection
            dbapi_conn.execute(f"PRAGMA wal_autocheckpoint={self.inline_pages}")
            record.info["wal_autocheckpoint"] = self.inline_pages

    def _run(self) -> None:
        con = sqlite3.connect(self.engine.url.database, timeout=30, check_same_thread=False)
        try:
            while not self._stop.wait(self.interval):
                self._checkpoint(con)
            self._checkpoint(con)
        finally:
            con.close()

    def _checkpoint(self, con: sqlite3.Connection) -> None:
        try:
            con.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            self.checkpoints_ += 1
        except sqlite3.Error as exc:  # a busy or locked database: the next round tries again
            log.debug("background checkpoint skipped: %s", exc)
