"""Workspace locks that the operating system or PostgreSQL releases when the holding process dies.

One job at a time per workspace (a campaign worker delivering, a sync of the configured sources), whichever process
runs it: the CLI, a scheduled loop or the HTTP service. On PostgreSQL the lock is a session advisory lock, so it
holds across machines sharing the database; otherwise it is an ``flock`` on a file under ``WORKSPACE/locks/``.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import text

from persona.errors import BusyError


def advisory_key(name: str) -> int:
    """A stable signed 64-bit PostgreSQL advisory-lock key for the lock called ``name``."""
    return int.from_bytes(hashlib.sha256(f"persona/lock/{name}".encode()).digest()[:8], "big", signed=True)


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
        conn = store.engine.connect()
        try:
            if not conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar():
                raise BusyError(busy, hint=hint)
            # a session lock outlives the transaction that took it: end that transaction, so the connection waits
            # "idle" (not "idle in transaction", which a server's idle_in_transaction_session_timeout would cut,
            # dropping the lock) and holds no snapshot back from vacuum for the job's duration
            conn.commit()
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()
        finally:
            conn.close()
        return
    path = settings.workspace / "locks" / f"{name}.lock"
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
