"""Ingest runs left ``running`` by a process that died (a killed ``persona ingest``/``sync``, a restarted service).

Every run records the process loading it (``host``, ``pid``). A run that still says ``running`` once that process is
gone was cut off: :func:`settle_dead_runs` marks it ``interrupted`` and says what to do (run the same command again:
a file resumes after its last committed line, a pulled source's cursor had not moved).

How the process is known to be gone depends on the database:

- **PostgreSQL**, any host: the loading process holds a session advisory lock keyed by the run's id
  (:func:`run_lock_key`) on a connection of its own for as long as it loads (:class:`RunOwner`). The row is written
  ``running`` in the same transaction that takes the lock, and given its final status before the lock goes, so a
  row says ``running`` without its lock held only when its process died: PostgreSQL ends a dead client's session and
  its locks with it. A run whose ``host`` is this host and whose ``pid`` lives here is left alone whatever the lock
  says: a run started before runs held a lock may still be loading. (One started so on another host, still loading
  when this version first judges it, reads ``interrupted`` until its process records how it ended.)
- **SQLite**: there is no server to hold a lock, so only this host's runs can be judged, by whether a process of
  that id lives; another machine's runs are left as they are. A process id taken over by a new process makes a dead
  run look alive: it is then left running, never wrongly settled.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from sqlalchemy import Connection, func, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from persona.errors import StoreError
from persona.store.locks import advisory_key, lock_connection, release_lock_connection
from persona.store.models import IngestRun

log = logging.getLogger(__name__)

#: how long taking over an unfinished run waits for its lock (a settler holds it for a moment) before refusing
CLAIM_WAIT_SECONDS = 2.0


def this_process() -> tuple[str, int]:
    """``(host, pid)`` as an ingest run records its owner."""
    return socket.gethostname()[:255], os.getpid()


def process_alive(pid: int) -> bool:
    """Whether a process with this id exists on this host (one of another user counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def run_lock_key(run_id: int) -> int:
    """The PostgreSQL advisory-lock key that the process loading ingest run ``run_id`` holds."""
    return advisory_key(f"ingest-run/{run_id}")


class RunOwner:
    """This process's hold on the ingest runs it loads, visible from any host sharing a PostgreSQL database.

    On PostgreSQL, entering checks a connection out of the pool and keeps it until exit: runs are started (or taken
    over) in a transaction on it (:meth:`session`) that also takes their lock (:meth:`claim`), and the lock is held on
    it, outside every writing transaction, until exit unlocks it, on errors too. The loads themselves write on other
    connections (the bulk writer's COPY is untouched). On SQLite it holds nothing and :meth:`claim` always succeeds.
    """

    def __init__(self, store: Any) -> None:
        self._store = store
        self._conn: Connection | None = None
        self._keys: list[int] = []

    def __enter__(self) -> RunOwner:
        if self._store.dialect == "postgresql":
            try:
                self._conn = lock_connection(self._store.engine)
            except OperationalError as exc:
                raise StoreError(f"database error: {exc.orig}", hint="check that the database is reachable") from exc
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.release()

    def session(self) -> AbstractContextManager[Session]:
        """A transaction (see :meth:`persona.store.Store.session`) in which to start or take over a run and
        :meth:`claim` it: on PostgreSQL on the owner's connection, so the row commits ``running`` with its lock held."""
        return self._store.session(self._conn)

    def claim(self, s: Session, run_id: int, *, wait: float = 0.0) -> bool:
        """Take run ``run_id``'s lock in ``s`` and hold it until :meth:`release` (PostgreSQL; nothing on SQLite).

        Args:
            s: a transaction from :meth:`session`; the lock outlives it (a session lock ignores commit and rollback).
            run_id: the run.
            wait: seconds to keep trying while someone else holds it.

        Returns:
            False when another session held it all along: a live process is loading that run.
        """
        if self._conn is None:
            return True
        key = run_lock_key(run_id)
        deadline = time.monotonic() + wait
        while not s.execute(select(func.pg_try_advisory_lock(key))).scalar():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        self._keys.append(key)
        return True

    def release(self) -> None:
        """Unlock every claimed run and give the connection back (discarded when unlocking fails, so that no pooled
        connection keeps a run looking alive)."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        keys, self._keys = self._keys, []
        release_lock_connection(conn, tuple(keys))


def settle_dead_runs(store: Any) -> int:
    """Mark the ``running`` ingest runs whose process is gone ``interrupted``, with the reason and the fix.

    On PostgreSQL every host's runs are judged, by their lock; on SQLite only this host's, by their process id (see
    the module's note).

    Returns:
        How many runs were marked.
    """
    host, _ = this_process()
    by_lock = store.dialect == "postgresql"
    query = select(IngestRun.id, IngestRun.host, IngestRun.pid, IngestRun.source).where(
        IngestRun.status == "running", IngestRun.pid.is_not(None))
    if not by_lock:
        query = query.where(IngestRun.host == host)
    marked = 0
    with store.session() as s:
        for run_id, run_host, pid, source in s.execute(query).all():
            if run_host == host and process_alive(int(pid)):
                continue
            if by_lock and not _owner_gone(s, int(run_id)):
                continue
            error = (f"the process loading it (pid {pid} on {run_host}) stopped before it finished: killed, restarted or "
                     "out of memory; run the same command again (a file resumes after its last committed line, a "
                     "pulled source's cursor did not move, so nothing is lost)")
            done = s.execute(update(IngestRun).where(IngestRun.id == run_id, IngestRun.status == "running")
                             .values(status="interrupted", error=error, finished_at=datetime.now(UTC)))
            if done.rowcount:
                marked += 1
                log.warning("ingest run=%s status=interrupted source=%s host=%s pid=%s", run_id, source, run_host, pid)
    return marked


def _owner_gone(s: Session, run_id: int) -> bool:
    """PostgreSQL: whether no session holds run ``run_id``'s lock, so its process is gone. The lock taken to find out
    lasts until ``s`` ends (nothing to unlock by hand). A run whose row is still locked by its dead process's last
    transaction (a backend finishing a long statement before it notices its client is gone) is left for next time
    rather than waited for."""
    if not s.execute(select(func.pg_try_advisory_xact_lock(run_lock_key(run_id)))).scalar():
        return False
    return s.execute(select(IngestRun.id).where(IngestRun.id == run_id, IngestRun.status == "running")
                     .with_for_update(skip_locked=True)).scalar() is not None
