"""Old row versions of personal data: what an erasure, a redaction or a key rotation leaves in the table files.

PostgreSQL never overwrites a row in place: an ``UPDATE`` writes a new version and a ``DELETE`` marks the row dead,
and the old version (an erased customer's city and encrypted e-mail, a review text before redaction, a ciphertext under
the key a rotation retired) stays in the table file until ``VACUUM`` reclaims it. Autovacuum gets to a table only once
a fifth of its rows are dead, which a few erasures in a large customer table never reach. :func:`vacuum` reclaims them
now: plain ``VACUUM`` frees the old versions for reuse and no query, index or ``pageinspect`` reaches them any more;
``full`` rewrites each table into a new file (``VACUUM FULL``: nothing of the old versions stays in the database's
files, but each table is locked against reads and writes while it is rewritten). The write-ahead log and backups keep
their copies until they are recycled or expire; that is the backup policy's part.

SQLite overwrites deleted content at once (the store sets ``secure_delete``), so there :func:`vacuum` only moves the
write-ahead log's copy into the database and truncates it; ``full`` also rebuilds the file (``VACUUM``), giving the
free pages back to the file system.

:func:`pending` says which tables hold old row versions written since the last vacuum and since the last erasure,
review redaction or key rotation (the privacy report lists them as a finding).
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Any

from sqlalchemy import text

from persona.jsonvalues import utc_iso
from persona.privacy.gdpr import audit
from persona.privacy.scope import PERSONAL_TABLES
from persona.store.models import TABLES
from persona.store.portable import RowProgress

log = logging.getLogger(__name__)

#: the audit actions that leave old versions of personal data behind
ERASING_ACTIONS = ("erase", "redact_reviews", "rotate_key")


def _stats(store: Any) -> dict[str, dict[str, Any]]:
    """PostgreSQL's per-table statistics: dead row versions (an estimate) and when each table was last vacuumed."""
    df = store.read_frame("SELECT relname, n_dead_tup, last_vacuum, last_autovacuum FROM pg_stat_user_tables "
                          "WHERE schemaname = current_schema()")
    out = {}
    for row in df.itertuples(index=False):
        stamps = [t for t in (row.last_vacuum, row.last_autovacuum) if t is not None and t == t]  # t == t: not NaT
        out[str(row.relname)] = {"dead": int(row.n_dead_tup), "vacuumed": max(stamps) if stamps else None}
    return out


def _as_utc(t: Any) -> datetime | None:
    """A time stamp from either database (aware, naive meaning UTC, or text) as an aware UTC datetime."""
    iso = utc_iso(t)
    return None if iso is None else datetime.fromisoformat(iso)


def pending(store: Any) -> dict[str, int]:
    """PostgreSQL: the tables of :data:`PERSONAL_TABLES` that hold dead row versions and have not been vacuumed since
    the last erasure, review redaction or key rotation, with their dead versions (the server's estimate). Empty on
    SQLite, where deleted content is overwritten at once, and when nothing was erased, redacted or rotated."""
    if store.dialect != "postgresql":
        return {}
    actions = ", ".join(f"'{a}'" for a in ERASING_ACTIONS)
    last = store.read_frame(f"SELECT MAX(ts) AS ts FROM audit_log WHERE action IN ({actions})")  # noqa: S608 - constants
    since = _as_utc(last["ts"].iloc[0]) if len(last) and last["ts"].notna().iloc[0] else None
    if since is None:
        return {}
    out = {}
    for table, st in _stats(store).items():
        vacuumed = _as_utc(st["vacuumed"])
        if table in PERSONAL_TABLES and st["dead"] > 0 and (vacuumed is None or vacuumed < since):
            out[table] = st["dead"]
    return out


def vacuum(store: Any, *, full: bool = False, actor: str = "cli", progress: bool | None = None) -> dict[str, Any]:
    """Reclaim the old row versions of every Persona table (see the module docstring); audited.

    Args:
        store: the workspace store.
        full: rewrite each table (PostgreSQL ``VACUUM FULL``, locking it meanwhile) or rebuild the file (SQLite).
        actor: who asked, for the audit log.
        progress: show a progress bar once the vacuum takes over a second; default ``settings.progress``.

    Returns:
        ``{"database", "full", "tables": {table: {"dead_before", "dead_after", "seconds"}}, "seconds"}`` on PostgreSQL
        (dead versions as the server estimates them); ``{"database", "full", "free_pages_before", "free_pages_after",
        "seconds"}`` on SQLite.
    """
    t0 = time.perf_counter()
    out: dict[str, Any] = {"database": store.dialect, "full": bool(full)}
    audit(store, actor, "vacuum", None, {"full": bool(full)})  # first: its own row is then vacuumed (checkpointed) too
    if store.dialect == "postgresql":
        before = _stats(store)
        tables = [t for t in TABLES if t in before]
        done: dict[str, dict[str, Any]] = {}
        bar = RowProgress(store.settings.progress if progress is None else progress, len(tables), "vacuuming", "tables")
        try:
            with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                for table in tables:
                    t1 = time.perf_counter()
                    if full:
                        conn.execute(text(f'VACUUM (FULL) "{table}"'))
                    # after FULL too: a rewrite leaves the server's dead-row count and last-vacuum time as they were
                    conn.execute(text(f'VACUUM "{table}"'))
                    done[table] = {"dead_before": before[table]["dead"], "seconds": round(time.perf_counter() - t1, 3)}
                    bar.advance(1, table)
        finally:
            bar.close()
        after = _stats(store)
        for table, d in done.items():
            d["dead_after"] = after.get(table, {}).get("dead", 0)
        out["tables"] = done
    else:
        with store.engine.connect() as conn:
            out["free_pages_before"] = int(conn.exec_driver_sql("PRAGMA freelist_count").scalar() or 0)
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            if full:
                conn.exec_driver_sql("VACUUM")
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            out["free_pages_after"] = int(conn.exec_driver_sql("PRAGMA freelist_count").scalar() or 0)
    out["seconds"] = round(time.perf_counter() - t0, 3)
    log.info("vacuum database=%s full=%s seconds=%.2f", store.dialect, full, out["seconds"])
    return out
