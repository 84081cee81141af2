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
- **SQLite**, any host: the loading process holds an exclusive ``flock`` on a file of the run,
  ``WORKSPACE/locks/ingest-runs/<run id>.lock`` (:func:`run_lock_path`), for as long as it loads. It takes the lock
  before the transaction that writes the row ``running`` commits, writes the final status, then removes the file and
  lets go; the kernel lets go of a dead process's locks. So a run is dead exactly when its file exists and a settler
  can take the lock; host name and process id play no part, which matters for containers that share a workspace
  volume and a host name but not a process-id namespace (each would see the other's live loader as a dead pid).
  A settler holds the lock only while it writes ``interrupted``, then removes the file. Whoever locks the file
  checks that it is still the one at that path (a file its holder removed meanwhile is no run's lock any more).
  A run without a file was started by a Persona from before runs held a lock: as then, only this host's such runs
  are judged, by whether a process of that id lives (one of another machine is left as it is; a process id taken
  over by a new process makes a dead run look alive, so it is left running, never wrongly settled).

  ``flock`` holds between processes of one kernel: containers of one machine sharing the workspace on a bind mount
  or a local volume see each other's locks. Machines sharing it over a network filesystem see each other's locks
  only where that filesystem carries ``flock`` to the server (see flock(2)): the Linux NFS client does since Linux
  2.6.12, as a byte-range lock on the whole file, unless mounted with ``local_lock=flock`` or ``all`` (then, as with
  ``nolock`` on NFSv3, locks are local to each client); SMB carries it since Linux 5.5 (before, not at all). Where
  the lock stays local, another machine's live run looks dead here and is wrongly settled (its loader then writes
  its final status over ``interrupted`` when it ends). A dead process's lock goes at once; a dead NFS client's only
  when the server drops it (NFSv4: when the client's lease runs out). SQLite's own locking needs such a
  filesystem's byte-range locks to work anyway.
"""

from __future__ import annotations

import fcntl
import logging
import os
import socket
import time
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from sqlalchemy import Connection, func, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from persona.errors import StoreError
from persona.store.locks import advisory_key, lock_connection, locks_dir, release_lock_connection
from persona.store.models import IngestRun

log = logging.getLogger(__name__)

#: how long taking over an unfinished run waits for its lock (a settler holds it for a moment) before refusing
CLAIM_WAIT_SECONDS = 2.0
#: how often a wait for a run's lock tries again
_RETRY_SECONDS = 0.05


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


def run_lock_path(settings: Any, run_id: int) -> Path:
    """The file whose ``flock`` the process loading ingest run ``run_id`` holds (SQLite)."""
    return locks_dir(settings) / "ingest-runs" / f"{run_id}.lock"


def _is_at(fd: int, path: Path) -> bool:
    """Whether the open file ``fd`` is still the one at ``path`` (not removed, nor replaced by a new file)."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return False
    own = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (own.st_dev, own.st_ino)


def _lock_run_file(path: Path, deadline: float) -> int | None:
    """An open descriptor holding the exclusive ``flock`` of ``path`` (created as needed), or None when another
    holder kept it until ``deadline`` (``time.monotonic()``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        # a descriptor of its own: flock excludes other holders in this process too (not passed to programs this
        # one runs, but a forked child shares it, and the lock, until it exits)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            if time.monotonic() >= deadline:
                return None
            time.sleep(_RETRY_SECONDS)
            continue
        except BaseException:
            os.close(fd)
            raise
        if _is_at(fd, path):
            return fd
        os.close(fd)  # its holder removed it while we waited (the run ended or was settled): lock the new one


def _unlock_run_file(fd: int, path: Path) -> None:
    """Remove the run's lock file ``path`` (while still holding it, so that nobody takes a removed file for the
    run's lock), then let go."""
    try:
        if _is_at(fd, path):
            path.unlink()
    finally:
        os.close(fd)


class RunOwner:
    """This process's hold on the ingest runs it loads, visible to every process that judges them.

    On PostgreSQL, entering checks a connection out of the pool and keeps it until exit: runs are started (or taken
    over) in a transaction on it (:meth:`session`) that also takes their lock (:meth:`claim`), and the lock is held on
    it, outside every writing transaction, until exit unlocks it, on errors too. The loads themselves write on other
    connections (the bulk writer's COPY is untouched). On SQLite the lock is an ``flock`` on the run's file
    (:func:`run_lock_path`), taken in that transaction too and held on an open descriptor until exit, which removes
    the file and closes it. Exit after the run's final status is committed.
    """

    def __init__(self, store: Any) -> None:
        self._store = store
        self._conn: Connection | None = None
        self._keys: list[int] = []
        self._files: list[tuple[int, Path]] = []

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
        """Take run ``run_id``'s lock in ``s`` and hold it until :meth:`release`.

        Args:
            s: a transaction from :meth:`session`; the lock outlives it (a session lock ignores commit and rollback, a
                file lock is no part of the transaction).
            run_id: the run.
            wait: seconds to keep trying while someone else holds it.

        Returns:
            False when another session (or, on SQLite, another open file) held it all along: a live process is
            loading that run.
        """
        deadline = time.monotonic() + wait
        if self._store.dialect != "postgresql":
            path = run_lock_path(self._store.settings, run_id)
            try:
                fd = _lock_run_file(path, deadline)
            except OSError as exc:  # e.g. a read-only workspace, or a network filesystem without a lock service
                raise StoreError(f"cannot lock {path} for ingest run {run_id}: {exc}",
                                 hint="the workspace's locks folder must be writable and on a filesystem that "
                                      "supports flock (a local disk, or NFS with its lock service)") from exc
            if fd is None:
                return False
            self._files.append((fd, path))
            return True
        if self._conn is None:
            return True
        key = run_lock_key(run_id)
        while not s.execute(select(func.pg_try_advisory_lock(key))).scalar():
            if time.monotonic() >= deadline:
                return False
            time.sleep(_RETRY_SECONDS)
        self._keys.append(key)
        return True

    def held_elsewhere_hint(self, run_id: int) -> str:
        """What to check when a new run's lock, which nobody should hold, is held."""
        if self._store.dialect == "postgresql":
            return "check pg_locks for an advisory lock of another application on this database"
        return (f"check which process holds {run_lock_path(self._store.settings, run_id)} (e.g. with `fuser`); "
                "no Persona process should")

    def release(self) -> None:
        """Unlock every claimed run: give the connection back (discarded when unlocking fails, so that no pooled
        connection keeps a run looking alive), remove and close the lock files. Never raises."""
        files, self._files = self._files, []
        for fd, path in files:
            try:
                _unlock_run_file(fd, path)
            except OSError as exc:  # closed anyway: the lock is gone, a file left behind is only untidy
                log.warning("the lock file %s could not be removed: %s", path, exc)
        conn, self._conn = self._conn, None
        if conn is None:
            return
        keys, self._keys = self._keys, []
        release_lock_connection(conn, tuple(keys))


def settle_dead_runs(store: Any) -> int:
    """Mark the ``running`` ingest runs whose process is gone ``interrupted``, with the reason and the fix.

    Every host's runs are judged, by their lock; on SQLite a run started by a Persona from before runs held a lock
    only if it is this host's, by its process id (see the module's note).

    Returns:
        How many runs were marked.
    """
    if store.dialect != "postgresql":
        return _settle_by_lock_file(store)
    host, _ = this_process()
    query = select(IngestRun.id, IngestRun.host, IngestRun.pid, IngestRun.source).where(
        IngestRun.status == "running", IngestRun.pid.is_not(None))
    marked = 0
    with store.session() as s:
        for run_id, run_host, pid, source in s.execute(query).all():
            if run_host == host and process_alive(int(pid)):
                continue
            if not _owner_gone(s, int(run_id)):
                continue
            marked += _settle(s, int(run_id), run_host, pid, source)
    return marked


def _settle(s: Session, run_id: int, run_host: str | None, pid: int | None, source: str | None, *,
            same_owner: bool = False) -> int:
    """Mark run ``run_id`` ``interrupted`` in ``s`` if it still says ``running`` (and, ``same_owner``, still names
    the process ``pid`` on ``run_host``, not one that took it over since); 1 when it did, else 0."""
    error = (f"the process loading it (pid {pid} on {run_host}) stopped before it finished: killed, restarted or "
             "out of memory; run the same command again (a file resumes after its last committed line, a "
             "pulled source's cursor did not move, so nothing is lost)")
    where = [IngestRun.id == run_id, IngestRun.status == "running"]
    if same_owner:
        where += [IngestRun.host == run_host, IngestRun.pid == pid]
    done = s.execute(update(IngestRun).where(*where).values(status="interrupted", error=error,
                                                           finished_at=datetime.now(UTC)))
    if not done.rowcount:
        return 0
    log.warning("ingest run=%s status=interrupted source=%s host=%s pid=%s", run_id, source, run_host, pid)
    return 1


def _settle_by_lock_file(store: Any) -> int:
    """SQLite: settle each ``running`` run whose lock file nobody holds, each in a transaction of its own taken while
    the settler holds that lock (then the file goes); runs without a file: this host's whose process is gone."""
    host, _ = this_process()
    with store.session() as s:
        runs = s.execute(select(IngestRun.id, IngestRun.host, IngestRun.pid, IngestRun.source).where(
            IngestRun.status == "running", IngestRun.pid.is_not(None))).all()
    marked = 0
    for run_id, run_host, pid, source in runs:
        path = run_lock_path(store.settings, int(run_id))
        try:
            fd = os.open(path, os.O_RDWR)  # not read-only: over NFS an exclusive flock needs a file open to write
        except FileNotFoundError:  # started before runs held a lock, or ended since (its row is final)
            if run_host == host and not process_alive(int(pid)):
                with store.session() as s:  # unless a new process took it over since we read it (its file is new)
                    marked += _settle(s, int(run_id), run_host, pid, source, same_owner=True)
            continue
        except OSError as exc:  # e.g. another user's file we may not read: left running, never wrongly settled
            log.warning("ingest run=%s left running: its lock file %s cannot be opened (%s)", run_id, path, exc)
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # its process (or another settler, for a moment) holds it
            except OSError as exc:  # e.g. no lock service on a network filesystem: cannot judge, left running
                log.warning("ingest run=%s left running: its lock file %s cannot be locked (%s)", run_id, path, exc)
                continue
            if not _is_at(fd, path):
                continue  # removed by its holder since we opened it: the run ended, or was settled, meanwhile
            with store.session() as s:
                marked += _settle(s, int(run_id), run_host, pid, source)
            path.unlink(missing_ok=True)  # committed: no longer running; still ours, so no one else's lock goes
        finally:
            os.close(fd)
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
