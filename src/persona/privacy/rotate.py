"""Rotate the workspace secret: move every value derived from the master key to a new key, all or nothing.

What depends on the master key (HKDF-split in :class:`~persona.privacy.crypto.PIICipher`), and what a rotation does
with each:

* ``customers.email_enc / phone_enc / name_enc`` (AES-256-GCM; :data:`persona.privacy.scope.PII_COLUMNS`): decrypted
  with the old key, encrypted with the new.
  A ciphertext the old key cannot open stops the rotation before anything is written (nothing is ever left under
  a key nobody has).
* ``customers.customer_key`` (keyed pseudonym): recomputed from ``customers.customer_id``, which is stored in clear,
  for every customer, erased ones included (their tombstone keeps the id), so the new pseudonyms are consistent.
  Profiles, segments, predictions, messages, assignments and consents are keyed by ``customer_id``, not by
  pseudonym: their joins do not change.
* ``audit_log.subject`` (pseudonyms): mapped old → new through the customers table (tombstones included); a
  subject naming no stored customer cannot be recomputed and is kept as written (counted, ``audit_subjects_kept``).
* ``customers.email_hash`` (keyed, suppression): recomputed from the decrypted e-mail; a hash without a stored
  e-mail cannot be recomputed and is dropped (it would match nothing under the new key anyway).
* ``row_hash`` of customers, products and reviews (SipHash keyed with the secret; they detect unchanged source
  rows on re-ingest): not recomputable, because the source row is not stored as read. They are cleared: the next
  load of each file sees its rows as changed once, rewrites the same values and stores new-key hashes; loads after
  that find duplicates again. Consent row hashes, content-derived event ids (``h:``) and API-key hashes are
  unkeyed SHA-256 / public SipHash: untouched.
* Review ids ``k:…`` (keyed hash of a review whose text held PII): the text they were made of is stored redacted,
  so no key can recompute them. They are rekeyed as ``k:`` + the new key's hash of the old id, so no stored id
  stays checkable with the retired key. Price: a reload of the original review file adds those reviews once more
  (their new-key id differs); reviews with their own or ``h:`` ids are not affected.
* Tombstones of erased customers are checked by ``customer_id`` (stored in clear, no key involved): ingest never
  rewrites an erased customer's row (``EntityWriter``), so an erased person stays erased whatever the key.
* Tracking links (click, unsubscribe) are signed with a key derived from the master key and live in sent e-mails:
  a retired master key is kept as ``secret.key.old-<UTC time>`` (mode 0600) and
  :class:`~persona.campaigns.tracking.Signer` verifies (never signs) with the keys retired in the last
  :data:`~persona.campaigns.tracking.LINK_GRACE`. The kept key also keeps backups taken before the rotation readable;
  delete it when neither is needed (then older links stop working).
* Not stored, so not rewritten: hashed customer ids in log lines (``hashed_id``) and coupon codes (derived per
  campaign and customer; planned messages keep theirs in the payload) change with the key.

Crash safety (key file mode): the new key is written to ``secret.key.next`` (0600, fsynced) before the database is
touched; every row is rewritten in ONE transaction, which also appends the ``rotate_key`` audit record naming both
keys by fingerprint; after the commit the old key is kept and ``secret.key.next`` is renamed over ``secret.key``
(atomic). While ``secret.key.next`` exists :meth:`PIICipher.from_settings` refuses to load a key, and
``persona privacy rotate-key --resume`` settles it: the audit record of the new key's fingerprint exists only if the
transaction committed, so it finishes the rename, or else deletes ``secret.key.next`` (the data is still under the
old key). With ``PERSONA_SECRET_KEY`` (no key file) the new key goes to ``--new-key-file PATH`` (created 0600 before
the transaction, or read if it exists); the environment cannot be written, so after the commit the command says to
set ``PERSONA_SECRET_KEY`` to that file's content and restart every service.

One rotation at a time: the ``rotate-key`` workspace lock, and the campaign-delivery and source-sync locks so that
neither writes under the old key meanwhile; on PostgreSQL the rewritten tables are locked against writers for the
transaction. Services already running follow the key through :class:`~persona.privacy.keysource.CipherSource`:
a rotated key file within a second (stubs they wrote with the old key in that second are re-keyed), while with
``PERSONA_SECRET_KEY`` they refuse key-derived writes once the ``rotate_key`` record names another key, until
restarted with the new one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Connection, bindparam, distinct, select, text, update

from persona.errors import ConfigError, InputError, PersonaError, StoreError
from persona.privacy.crypto import PIICipher, generate_key, load_key_file
from persona.privacy.keyfiles import keep_old_key, next_key_path, promote_next_key, write_key_file
from persona.privacy.scope import PII_COLUMNS, PII_FIELDS
from persona.store.models import TABLES

log = logging.getLogger(__name__)

ROTATE_ACTION = "rotate_key"
RESUME_HINT = "run `persona privacy rotate-key --resume`"


class RotationError(InputError):
    """The data cannot be moved to a new key as it is (nothing was changed)."""

    code = "rotation"


def rotation_plan(store: Any) -> dict[str, int]:
    """What a rotation would rewrite, in row counts per table and column (nothing is written)."""
    one = lambda sql: int(store.read_frame(sql)["n"].iloc[0])  # noqa: E731
    plan = {"customers": one("SELECT COUNT(*) AS n FROM customers")}
    for col in PII_COLUMNS:
        plan[col] = one(f"SELECT COUNT(*) AS n FROM customers WHERE {col} IS NOT NULL")  # noqa: S608
    plan["email_hash"] = one("SELECT COUNT(*) AS n FROM customers WHERE email_hash IS NOT NULL")
    plan["audit_subjects"] = one("SELECT COUNT(DISTINCT subject) AS n FROM audit_log WHERE subject IS NOT NULL")
    plan["keyed_review_ids"] = one("SELECT COUNT(*) AS n FROM reviews WHERE review_id LIKE 'k:%'")
    for table in ("customers", "products", "reviews"):
        plan[f"{table}_row_hashes"] = one(f"SELECT COUNT(*) AS n FROM {table} WHERE row_hash IS NOT NULL")  # noqa: S608
    return plan


def last_rotation(store: Any) -> dict[str, Any] | None:
    """The latest ``rotate_key`` audit record: ``{"at", "actor", "old_fingerprint", "new_fingerprint"}``, or None."""
    df = store.read_frame("SELECT ts, actor, details FROM audit_log WHERE action = :a ORDER BY ts DESC, id DESC",
                          {"a": ROTATE_ACTION})
    if df.empty:
        return None
    details = _details(df["details"].iloc[0])
    return {"at": pd.Timestamp(df["ts"].iloc[0]).isoformat(), "actor": str(df["actor"].iloc[0]),
            "old_fingerprint": details.get("old_fingerprint"), "new_fingerprint": details.get("new_fingerprint")}


def rotate_key(store: Any, settings: Any, *, new_key_file: Path | None = None, actor: str = "cli",
               progress: bool | None = None, batch_rows: int = 5000) -> dict[str, Any]:
    """Move every value derived from the workspace secret to a new key (see the module docstring).

    Args:
        store: the workspace store.
        settings: its settings; ``settings.secret_key`` set (``PERSONA_SECRET_KEY``) means no key file.
        new_key_file: with ``PERSONA_SECRET_KEY`` only, and required then: where the new key goes (created, 0600)
            or, if the file exists, the new key to use.
        actor: who asked, for the audit log.
        progress: show a progress bar; default ``settings.progress``.
        batch_rows: customers read and rewritten per statement (all in one transaction).

    Returns:
        ``{"rotated": True, "rows": {column: rows rewritten}, "pseudonyms", "email_hashes", "audit_subjects",
        "audit_subjects_kept", "review_ids_rekeyed", "row_hashes_cleared", "old_key_kept", "new_key_file",
        "env": whether PERSONA_SECRET_KEY must be changed, "old_fingerprint", "new_fingerprint", "seconds"}``.

    Raises:
        ConfigError: a rotation is pending (``--resume``), or ``new_key_file`` is missing / given in key-file mode.
        RotationError: a stored ciphertext does not open with the current key (nothing was changed).
        BusyError: another rotation, a campaign delivery or a sync holds the workspace.
    """
    t0 = time.perf_counter()
    with _exclusive(store, settings):
        old_text, old = _current_key(settings)
        env = bool(settings.secret_key)
        if env:
            if new_key_file is None:
                raise ConfigError("PERSONA_SECRET_KEY is set: the new key cannot be written there",
                                  hint="add --new-key-file PATH (created with a new key, mode 0600; or a key you made)")
            target, created = Path(new_key_file), not Path(new_key_file).exists()
        else:
            if new_key_file is not None:
                raise ConfigError("--new-key-file is for workspaces keyed by PERSONA_SECRET_KEY",
                                  hint=f"this workspace's key is {settings.key_path}: drop --new-key-file")
            target, created = next_key_path(settings.key_path), True
            if target.exists():
                raise ConfigError(f"a key rotation of this workspace did not finish ({target} exists)", hint=RESUME_HINT)
        if created:
            write_key_file(target, generate_key())
        new = PIICipher(load_key_file(target))
        if new.fingerprint == old.fingerprint:
            raise ConfigError(f"{target} holds the key in use already", hint="give a new key, or a path that does not exist")
        try:
            counts = _rewrite_all(store, old, new, actor=actor, progress=progress, batch_rows=batch_rows)
        except BaseException as exc:
            if isinstance(exc, _CommitUnknown):  # the COMMIT itself failed: only the audit record can tell
                raise StoreError(f"the database did not confirm the commit of the key rotation ({exc.__cause__})",
                                 hint=RESUME_HINT) from exc
            if created:  # rolled back: the data is under the old key, the new one was never used
                target.unlink(missing_ok=True)
            raise
        kept = keep_old_key(settings.key_path, old_text)
        if not env:
            promote_next_key(settings.key_path)
    log.info("rotate_key rows=%s seconds=%.2f", counts["rows"], time.perf_counter() - t0)
    return {"rotated": True, **counts, "old_key_kept": str(kept), "new_key_file": str(settings.key_path if not env else target),
            "env": env, "old_fingerprint": old.fingerprint, "new_fingerprint": new.fingerprint,
            "seconds": round(time.perf_counter() - t0, 3)}


def resume_rotation(store: Any, settings: Any, *, new_key_file: Path | None = None) -> dict[str, Any]:
    """Settle an interrupted rotation: finish it if its transaction committed, else discard the new key.

    Returns:
        ``{"resumed": "finished" | "discarded" | "nothing", "old_key_kept", "new_key_file", "env", "fingerprint"}``
        (``fingerprint``: of the key the data is under now).

    Raises:
        ConfigError: with ``PERSONA_SECRET_KEY``, ``new_key_file`` is missing.
    """
    with _exclusive(store, settings):
        env = bool(settings.secret_key)
        if env:
            if new_key_file is None:
                raise ConfigError("PERSONA_SECRET_KEY is set: say which new key the rotation used",
                                  hint="add --new-key-file PATH (the file the rotation wrote)")
            target = Path(new_key_file)
        else:
            target = next_key_path(settings.key_path)
        if not target.exists():
            return {"resumed": "nothing", "old_key_kept": None, "new_key_file": None, "env": env, "fingerprint": None}
        new = PIICipher(load_key_file(target))
        if not _committed(store, new.fingerprint):
            target.unlink()
            old = _current_key(settings)[1]
            return {"resumed": "discarded", "old_key_kept": None, "new_key_file": None, "env": env,
                    "fingerprint": old.fingerprint}
        old_text, old = _current_key(settings)
        kept = None
        if old.fingerprint != new.fingerprint:  # with the environment already changed there is nothing to keep
            kept = str(keep_old_key(settings.key_path, old_text))
        if not env:
            promote_next_key(settings.key_path)
    return {"resumed": "finished", "old_key_kept": kept, "new_key_file": str(target if env else settings.key_path),
            "env": env, "fingerprint": new.fingerprint}


# --- the transaction ---------------------------------------------------------------------------------
class _CommitUnknown(Exception):
    """COMMIT raised: the transaction may or may not have committed."""


def _rewrite_all(store: Any, old: PIICipher, new: PIICipher, *, actor: str, progress: bool | None,
                 batch_rows: int) -> dict[str, Any]:
    """Rewrite every key-derived value in one transaction (committed on return)."""
    from datetime import UTC, datetime

    total = int(store.read_frame("SELECT COUNT(*) AS n FROM customers")["n"].iloc[0])
    show = store.settings.progress if progress is None else progress
    with _bar(show, total) as tick:
        conn = store.engine.connect()
        try:
            tx = conn.begin()
            try:
                counts = _rewrite(conn, old, new, batch_rows=batch_rows, tick=tick)
                audit = TABLES["audit_log"]
                conn.execute(audit.insert().values(
                    ts=datetime.now(UTC), actor=actor, action=ROTATE_ACTION, subject=None,
                    details={"old_fingerprint": old.fingerprint, "new_fingerprint": new.fingerprint,
                             "rows": counts["rows"], "pseudonyms": counts["pseudonyms"],
                             "review_ids_rekeyed": counts["review_ids_rekeyed"]}))
            except BaseException:
                tx.rollback()
                raise
            try:
                tx.commit()
            except Exception as exc:
                raise _CommitUnknown() from exc
        finally:
            conn.close()
    if store.dialect == "sqlite":  # old ciphertexts must not linger in the write-ahead log
        with store.engine.connect() as c:
            c.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    return counts


def _rewrite(conn: Connection, old: PIICipher, new: PIICipher, *, batch_rows: int,
             tick: Callable[[int], None]) -> dict[str, Any]:
    customers, reviews, products, audit = (TABLES[t] for t in ("customers", "reviews", "products", "audit_log"))
    if conn.dialect.name == "postgresql":  # no writer may add rows under the old key meanwhile
        conn.execute(text("LOCK TABLE customers, products, reviews, audit_log IN SHARE ROW EXCLUSIVE MODE"))
    # a write first: on SQLite it takes the database's write lock for the whole transaction
    cleared = conn.execute(update(products).where(products.c.row_hash.is_not(None)).values(row_hash=None)).rowcount or 0
    cleared += conn.execute(update(reviews).where(reviews.c.row_hash.is_not(None)).values(row_hash=None)).rowcount or 0
    subjects = set(conn.execute(select(distinct(audit.c.subject)).where(audit.c.subject.is_not(None))).scalars())
    rows_done = dict.fromkeys(PII_COLUMNS, 0)
    out: dict[str, Any] = {"rows": rows_done, "pseudonyms": 0, "email_hashes": 0, "email_hashes_dropped": 0}
    remap: dict[str, str] = {}
    stmt = (update(customers).where(customers.c.customer_id == bindparam("b_id"))
            .values(customer_key=bindparam("b_key"), **{f"{c}_enc": bindparam(f"b_{c}") for c in PII_FIELDS},
                    email_hash=bindparam("b_hash"), row_hash=None))
    cols = [customers.c[c] for c in ("customer_id", "customer_key", *PII_COLUMNS, "email_hash", "row_hash")]
    last: str | None = None
    while True:
        q = select(*cols).order_by(customers.c.customer_id).limit(batch_rows)
        if last is not None:
            q = q.where(customers.c.customer_id > last)
        batch = conn.execute(q).all()
        if not batch:
            break
        params = []
        for r in batch:
            p = {"b_id": r.customer_id, "b_key": new.pseudonym(r.customer_id)}
            plain: dict[str, str | None] = {}
            for c in PII_FIELDS:
                token = getattr(r, f"{c}_enc")
                plain[c] = _open(old, token, c)
                p[f"b_{c}"] = new.encrypt(plain[c])
                rows_done[f"{c}_enc"] += token is not None
            p["b_hash"] = new.email_hash(plain["email"]) if plain["email"] is not None else None
            out["email_hashes"] += p["b_hash"] is not None
            out["email_hashes_dropped"] += r.email_hash is not None and p["b_hash"] is None
            cleared += r.row_hash is not None
            if r.customer_key in subjects:
                remap[r.customer_key] = p["b_key"]
            params.append(p)
        conn.execute(stmt, params)
        out["pseudonyms"] += len(params)
        last = batch[-1].customer_id
        tick(len(batch))
    if remap:
        conn.execute(update(audit).where(audit.c.subject == bindparam("b_old")).values(subject=bindparam("b_new")),
                     [{"b_old": o, "b_new": n} for o, n in remap.items()])
    out["audit_subjects"] = len(remap)
    out["audit_subjects_kept"] = len(subjects) - len(remap)
    keyed = list(conn.execute(select(reviews.c.review_id).where(reviews.c.review_id.like("k:%"))).scalars())
    if keyed:
        from persona.ingest.hashing import row_hashes
        from persona.ingest.writer import KEYED_REVIEW_PREFIX

        fresh = row_hashes(pd.DataFrame({"review_id": keyed}), new.row_hash_keys)
        conn.execute(update(reviews).where(reviews.c.review_id == bindparam("b_old")).values(review_id=bindparam("b_new")),
                     [{"b_old": o, "b_new": KEYED_REVIEW_PREFIX + h} for o, h in zip(keyed, fresh, strict=True)])
    out["review_ids_rekeyed"] = len(keyed)
    out["row_hashes_cleared"] = int(cleared)
    return out


def _open(old: PIICipher, token: bytes | None, column: str) -> str | None:
    try:
        return old.decrypt(token)
    except PersonaError as exc:
        raise RotationError(f"a stored {column} ciphertext does not open with the current key: nothing was changed",
                            hint="run `persona privacy report` (it counts unreadable ciphertexts) and check the key "
                                 "before rotating") from exc


# --- helpers -----------------------------------------------------------------------------------------
def _current_key(settings: Any) -> tuple[str, PIICipher]:
    """The key in use, as text and cipher (read directly: ``from_settings`` refuses while a rotation is pending)."""
    if settings.secret_key:
        return settings.secret_key.strip(), PIICipher.from_settings(settings)
    path = settings.key_path
    if not path.is_file():
        raise ConfigError(f"no key file at {path}", hint="nothing to rotate: `persona init` creates one")
    return path.read_text(encoding="ascii").strip(), PIICipher(load_key_file(path))


def _committed(store: Any, fingerprint: str) -> bool:
    """Whether a committed rotation moved the data to the key of ``fingerprint`` (its audit record exists)."""
    df = store.read_frame("SELECT details FROM audit_log WHERE action = :a", {"a": ROTATE_ACTION})
    return any(_details(d).get("new_fingerprint") == fingerprint for d in df["details"])


def _details(value: Any) -> dict[str, Any]:
    import json

    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return value if isinstance(value, dict) else {}


@contextmanager
def _exclusive(store: Any, settings: Any) -> Iterator[None]:
    """Hold the rotation, campaign-delivery and source-sync locks of the workspace."""
    from persona.campaigns.worker import PG_LOCK_KEY
    from persona.ingest.sources.configured import sync_lock
    from persona.store.locks import workspace_lock

    with ExitStack() as stack:
        stack.enter_context(workspace_lock(store, settings, "rotate-key", busy="a key rotation is already running",
                                           hint="wait for it to finish"))
        stack.enter_context(workspace_lock(store, settings, "delivery", pg_key=PG_LOCK_KEY,
                                           busy="a campaign worker is delivering", hint="stop it, rotate, then restart it"))
        stack.enter_context(sync_lock(store))  # settles the sync jobs and ingest runs that dead processes left running
        yield


@contextmanager
def _bar(show: bool, total: int) -> Iterator[Callable[[int], None]]:
    if not show or total < 10_000:
        yield lambda _n: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(TextColumn("[bold]re-keying customers"), BarColumn(), TextColumn("{task.completed:,.0f}/{task.total:,.0f}"),
                   TimeRemainingColumn(), console=Console(stderr=True), transient=True)
    task = bar.add_task("rotate", total=total)
    with bar:
        yield lambda n: bar.advance(task, n)
