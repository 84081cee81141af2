"""Workspace locks that the operating system or PostgreSQL releases when the holding process dies.

One job at a time per workspace (a campaign worker delivering, a sync of the configured sources), whichever process
runs it: the CLI, a scheduled loop or the HTTP service. On PostgreSQL the lock is a session advisory lock, so it
holds across machines sharing the database; otherwise it is an ``flock`` on a file under ``WORKSPACE/locks/``.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, text

from persona.errors import BusyError

log = logging.getLogger(__name__)


def locks_dir(settings: Any) -> Path:
    """The folder of the workspace's lock files (SQLite): ``WORKSPACE/locks``."""
    return Path(settings.workspace) / "locks"


def advisory_key(name: str) -> int:
    """A stable signed 64-bit PostgreSQL advisory-lock key for the lock called ``name``."""
    return int.from_bytes(hashlib.sha256(f"persona/lock/{name}".encode()).digest()[:8], "big", signed=True)


def transaction_lock(session: Any, name: str) -> None:
    """Serialise the writers of ``name``: this session's transaction holds a lock called ``name`` until it ends.

    Call it first in the transaction, before any read the write depends on (e.g. the next number of a sequence).
    PostgreSQL takes a transaction-scoped advisory lock, waiting for another transaction that holds it; SQLite starts
    the transaction as the database's one writer (``BEGIN IMMEDIATE``), waiting up to its busy timeout.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": advisory_key(name)})
    elif session.get_bind().dialect.name == "sqlite":
        session.connection().exec_driver_sql("BEGIN IMMEDIATE")


def lock_connection(engine: Engine) -> Connection:
    """A PostgreSQL connection, out of the pool until closed, on which to hold session locks for a job's length.

    A lock holder waits idle for as long as its job runs, so a server ``idle_session_timeout`` (PostgreSQL 14+) would
    end its session and the locks with it, and the job would look dead while it runs: the timeout is switched off on
    this connection. Give it back with :func:`release_lock_connection`.
    """
    conn = engine.connect()
    if conn.dialect.server_version_info >= (14,):
        conn.execute(text("SET idle_session_timeout = 0"))
        conn.commit()
    return conn


def release_lock_connection(conn: Connection, unlock: tuple[int, ...] = ()) -> None:
    """Unlock the advisory locks ``unlock`` held on a :func:`lock_connection`, restore the server's idle timeout and
    return it to the pool. Never raises: a connection that fails meanwhile is discarded instead, which ends its session
    and so every lock on it (an error that stopped the job is not hidden by one of the clean-up)."""
    try:
        if conn.in_transaction():
            conn.rollback()
        for key in unlock:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
        if conn.dialect.server_version_info >= (14,):
            conn.execute(text("RESET idle_session_timeout"))
        conn.commit()
    except Exception as exc:  # noqa: BLE001 - see the docstring
        log.warning("a lock connection could not be released (%s): it is closed instead, its locks end with it",
                    type(exc).__name__)
        conn.invalidate()
    finally:
        conn.close()


@contextmanager
def workspace_lock(store: Any, settings: Any, name: str, *, busy: str, hint: str, pg_key: int | None = None) -> Iterator[None]:
    """Hold the workspace's lock ``name`` for the duration, without waiting.

    Args:
        store: the workspace store (its dialect picks the kind of lock).
        settings: the workspace settings (the lock file lives under ``settings.workspace``).
        name: what the lock guards, e.g. ``"delivery"`` or ``"sync"`` (also the lock file's name).
        busy: the error message when another process holds it.
        hint: how to get past that.
        pg_key: the advisory-lock key on PostgreSQL; default :func:`advisory_key` of ``name``.

    Raises:
        BusyError: another process (or another holder in this one) has the lock.
    """
    if store.dialect == "postgresql":
        key = advisory_key(name) if pg_key is None else pg_key
        conn = lock_connection(store.engine)
        held: tuple[int, ...] = ()
        try:
            if not conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar():
                raise BusyError(busy, hint=hint)
            held = (key,)
            # a session lock outlives the transaction that took it: end that transaction, so the connection waits
            # "idle" (not "idle in transaction", which a server's idle_in_transaction_session_timeout would cut,
            # dropping the lock) and holds no snapshot back from vacuum for the job's duration
            conn.commit()
            yield
        finally:
            release_lock_connection(conn, held)
        return
    path = locks_dir(settings) / f"{name}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)  # a new descriptor: flock also excludes holders in this process
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BusyError(busy, hint=hint) from None
        yield
    finally:
        os.close(fd)
