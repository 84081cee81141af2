"""Data-subject rights: export everything held about a person, and erase it (GDPR art. 15, 17, 20).

Erasure removes PII, events, reviews, profile, segment memberships, predictions, exposures and outbox
rows, and the rows naming the person in the workspace's quarantine files; keeps a tombstone (the id and
``erased_at``) so that no later send can reach the person, and writes an audit record that names the person
only by pseudonym. Served models forget the person at their next retrain; the service also drops them from its
in-memory factors at once, and every later build leaves them out (:mod:`persona.privacy.tombstones`). The tables
erasure empties, the customer columns it blanks and what it keeps are listed once, in :mod:`persona.privacy.scope`.
Erasing an erased customer again finishes their erasure (:func:`erase_customer`), and :func:`finish_erasures`
does so for every tombstone: what the privacy report finds left.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import delete, select, update

from persona.errors import InputError, NotFoundError
from persona.ingest.quarantine import Person, PersonMatcher, quarantine_files, scrub_quarantine
from persona.jsonvalues import utc_iso
from persona.privacy.crypto import PIICipher
from persona.privacy.logsafe import hashed_id
from persona.privacy.scope import ERASED_CUSTOMER_COLUMNS, ERASED_TABLES
from persona.store.models import TABLES, AuditLog, Consent, Customer

log = logging.getLogger(__name__)


def audit(store: Any, actor: str, action: str, subject: str | None, details: dict[str, Any] | None = None) -> None:
    """Append to the audit log (``subject`` must already be a pseudonym, never raw PII)."""
    with store.session() as s:
        s.add(AuditLog(ts=datetime.now(UTC), actor=actor, action=action, subject=subject, details=details or {}))


#: how far back :func:`erased_since` looks before the time asked for (clock skew between writers)
ERASURE_CLOCK_MARGIN = timedelta(seconds=5)


def erased_since(store: Any, since: datetime) -> list[str]:
    """The ids of customers erased at or after ``since`` (less :data:`ERASURE_CLOCK_MARGIN`), by any process: how
    long-running code (the live loop, the API's event sink) learns of erasures it did not make."""
    gone = store.read_frame("SELECT customer_id FROM customers WHERE erased_at >= :t", {"t": since - ERASURE_CLOCK_MARGIN})
    return gone["customer_id"].astype(str).tolist()


def _rows(store: Any, sql: str, cid: str) -> list[dict[str, Any]]:
    df = store.read_frame(sql, {"c": cid})
    out = json.loads(df.to_json(orient="records", date_format="iso"))
    for r in out:
        for k, v in list(r.items()):
            if isinstance(v, str) and v[:1] in "{[":
                try:
                    r[k] = json.loads(v)
                except ValueError:
                    pass
    return out


def export_customer(store: Any, settings: Any, customer_id: str, *, actor: str = "cli") -> dict[str, Any]:
    """Everything Persona holds about one customer, decrypted, as plain JSON-ready data.

    Raises:
        NotFoundError: unknown or already erased customer.
    """
    with store.session() as s:
        c = s.get(Customer, customer_id)
    if c is None or c.erased_at is not None:
        raise NotFoundError(f"no customer {customer_id!r}", hint="erased customers have nothing left to export")
    cipher = PIICipher.from_settings(settings)
    out = {
        "customer": {
            "customer_id": c.customer_id,
            "email": cipher.decrypt(c.email_enc),
            "phone": cipher.decrypt(c.phone_enc),
            "name": cipher.decrypt(c.name_enc),
            "gender": c.gender,
            "birth_year": c.birth_year,
            "city": c.city,
            "country": c.country,
            "timezone": c.timezone,
            "language": c.language,
            "created_at": c.created_at.isoformat() if c.created_at else None,
            "attributes": c.attributes,
        },
        "consents": [
            {**r, "granted": bool(r["granted"])}
            for r in _rows(store, "SELECT channel, purpose, granted, ts, source FROM consents WHERE customer_id = :c ORDER BY ts", customer_id)
        ],
        "events": _rows(store, "SELECT event_id, product_id, event_type, ts, value, quantity, revenue, channel, session_id FROM events "
                               "WHERE customer_id = :c ORDER BY ts", customer_id),
        "reviews": _rows(store, "SELECT review_id, product_id, rating, text, lang, ts FROM reviews WHERE customer_id = :c", customer_id),
        "profile": _rows(store, "SELECT features, updated_at FROM profiles WHERE customer_id = :c", customer_id),
        "segments": _rows(store, "SELECT method, segment_id FROM segment_memberships WHERE customer_id = :c", customer_id),
        "predictions": _rows(store, "SELECT name, value, updated_at FROM predictions WHERE customer_id = :c", customer_id),
        "messages": _rows(store, "SELECT campaign, channel, strategy, status, sent_at FROM messages WHERE customer_id = :c", customer_id),
        "experiments": _rows(store, "SELECT experiment, variant, exposed_at FROM assignments WHERE customer_id = :c", customer_id),
        "exported_at": datetime.now(UTC).isoformat(),
    }
    audit(store, actor, "export", c.customer_key, {"sections": [k for k in out if k != "exported_at"]})
    return out


def _person(customer_id: str, email_enc: Any, phone_enc: Any, cipher: PIICipher) -> Person:
    """What names a customer in a quarantine row: their id, and their e-mail and phone decrypted (before erasure
    blanks them; a ciphertext this key cannot open is left out, and the id still finds their rows)."""
    found: dict[str, list[str]] = {"email": [], "phone": []}
    for name, token in (("email", email_enc), ("phone", phone_enc)):
        if token is None or token != token:  # token != token: NaN from a frame
            continue
        try:
            value = cipher.decrypt(token)
        except InputError:
            log.warning("erase customer=%s: the stored %s does not open with this key; quarantine rows are found by id",
                        hashed_id(customer_id, cipher), name)
            continue
        if value:
            found[name].append(value)
    return Person(str(customer_id), tuple(found["email"]), tuple(found["phone"]))


def workspace_quarantine(store: Any) -> list[Path]:
    """The workspace's quarantine files: those in its quarantine folder and those its ingest runs recorded."""
    recorded = store.read_frame("SELECT DISTINCT quarantine FROM ingest_runs WHERE quarantine IS NOT NULL")["quarantine"]
    return quarantine_files(store.settings.quarantine_dir, recorded.astype(str).tolist())


def _erase_rows(store: Any, customer_id: str, *, actor: str, quarantine_rows: int = 0) -> dict[str, Any]:
    """Delete the customer's rows, blank their tombstone (``erased_at`` set on the first erasure only) and audit it,
    in one transaction; what it changed."""
    now = datetime.now(UTC)
    with store.session() as s:
        c = s.get(Customer, customer_id)
        if c is None:
            raise NotFoundError(f"no customer {customer_id!r}", hint="check the id: erasure takes the shop's customer id")
        first, key = c.erased_at, c.customer_key
        cleared = [col for col in ERASED_CUSTOMER_COLUMNS if getattr(c, col) is not None]
        counts: dict[str, int] = {}
        for name in ERASED_TABLES:
            table = TABLES[name]
            counts[name] = int(s.execute(delete(table).where(table.c.customer_id == customer_id)).rowcount or 0)
        # consent history is evidence the shop must keep (scope.KEPT_TABLES); it holds no PII beyond the id
        counts["consents_kept"] = len(list(s.scalars(select(Consent.id).where(Consent.customer_id == customer_id))))
        if first is None or cleared:
            s.execute(update(Customer).where(Customer.customer_id == customer_id)
                      .values(**dict.fromkeys(ERASED_CUSTOMER_COLUMNS), **({} if first is not None else {"erased_at": now})))
        again = first is not None
        changed = not again or bool(cleared) or quarantine_rows > 0 or any(counts[t] for t in ERASED_TABLES)
        details: dict[str, Any] = dict(counts)
        if quarantine_rows:
            details["quarantine_rows"] = quarantine_rows
        if again:
            details.update(again=True, first_erased_at=utc_iso(first), cleared=cleared)
        # a re-run that found nothing left is recorded apart: "erase" means personal data went (vacuum and the
        # report's count of erasures read it so)
        s.add(AuditLog(ts=now, actor=actor, action="erase" if changed else "erase_checked", subject=key, details=details))
    return {"customer_id": customer_id, "again": again, "erased_at": utc_iso(first or now), "changed": changed,
            "removed": counts, "cleared": cleared}


def _truncate_wal(store: Any) -> None:
    if store.dialect == "sqlite":  # deleted pages are zeroed (secure_delete) and the WAL copy is truncated
        with store.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def erase_customer(store: Any, settings: Any, customer_id: str, *, actor: str = "cli") -> dict[str, Any]:
    """Erase a customer everywhere; for a customer erased before, finish the erasure (idempotent).

    Deletes their rows from every table of :data:`~persona.privacy.scope.ERASED_TABLES`, blanks the tombstone's
    :data:`~persona.privacy.scope.ERASED_CUSTOMER_COLUMNS` and takes the rows naming them (by id, e-mail or phone,
    decrypted first) out of the workspace's quarantine files. Run again on an erased customer it does the same,
    keeps ``erased_at`` (the first erasure's time) and says what it found left: a tombstone made by an older
    version still holding a column now blanked, rows a build wrote back, quarantine rows. Audited as ``erase``
    (with ``again`` on a re-run), or ``erase_checked`` when a re-run found nothing left.

    Returns:
        ``{"customer_id", "again", "erased_at", "changed", "removed": {table: rows, "consents_kept": n}, "cleared":
        [tombstone columns that held a value], "quarantine": {"scanned", "files": {name: rows}, "rows",
        "removed_files", "failed"}}``.

    Raises:
        NotFoundError: unknown customer.
    """
    with store.session() as s:
        c = s.get(Customer, customer_id)
        if c is None:
            raise NotFoundError(f"no customer {customer_id!r}", hint="check the id: erasure takes the shop's customer id")
        person = _person(c.customer_id, c.email_enc, c.phone_enc, PIICipher.from_settings(settings))
    scrub = scrub_quarantine(workspace_quarantine(store), PersonMatcher([person]))
    out = _erase_rows(store, customer_id, actor=actor, quarantine_rows=scrub.people.get(customer_id, 0))
    if out["changed"]:
        _truncate_wal(store)
    return {**out, "quarantine": scrub.as_dict()}


def finish_erasures(store: Any, settings: Any, *, apply: bool = True, actor: str = "cli") -> dict[str, Any]:
    """Finish the erasure of every erased customer: what :func:`erase_customer` does on a re-run, for all tombstones
    at once (the quarantine files are read once for all of them). Only tombstones with something left change, each
    in its own transaction with its own ``erase`` audit record; when none has, one ``erase_checked`` record says the
    check was made. With ``apply`` false nothing changes and nothing is audited: the counts say what would.

    Returns:
        ``{"tombstones", "finished", "removed": {table: rows}, "cleared": {column: tombstones}, "quarantine": {...},
        "applied"}`` (counts only: no customer id).
    """
    from persona.privacy.tombstones import ERASED_IDS_SQL, tombstone_holds_sql

    tomb = store.read_frame("SELECT customer_id, email_enc, phone_enc FROM customers WHERE erased_at IS NOT NULL")
    cipher = PIICipher.from_settings(settings)
    people = [_person(r.customer_id, r.email_enc, r.phone_enc, cipher) for r in tomb.itertuples(index=False)]
    scrub = scrub_quarantine(workspace_quarantine(store), PersonMatcher(people), apply=apply)
    todo: set[str] = set(scrub.people)
    removed: dict[str, int] = {}
    for name in ERASED_TABLES:
        left = store.read_frame(f"SELECT customer_id, COUNT(*) AS n FROM {name} WHERE customer_id IN ({ERASED_IDS_SQL}) "  # noqa: S608
                                "GROUP BY customer_id")
        removed[name] = int(left["n"].sum())
        todo.update(left["customer_id"].astype(str))
    held = store.read_frame(f"SELECT * FROM customers WHERE erased_at IS NOT NULL AND ({tombstone_holds_sql()})")  # noqa: S608
    todo.update(held["customer_id"].astype(str))
    cleared = {c: int(held[c].map(_holds).sum()) for c in ERASED_CUSTOMER_COLUMNS if len(held) and held[c].map(_holds).any()}
    out = {"tombstones": len(tomb), "finished": len(todo), "removed": {t: n for t, n in removed.items() if n},
           "cleared": cleared, "quarantine": scrub.as_dict(), "applied": apply}
    if not apply:
        return out
    for cid in sorted(todo):
        _erase_rows(store, cid, actor=actor, quarantine_rows=scrub.people.get(cid, 0))
    if todo:
        _truncate_wal(store)
    else:
        audit(store, actor, "erase_checked", None, {"all_erased": True, "tombstones": len(tomb)})
    return out


def _holds(v: Any) -> bool:
    """Whether a tombstone's column value (as read into a frame) holds something: not None, NaN, NaT or JSON null."""
    if v is None or (isinstance(v, float) and v != v) or v is pd.NaT:
        return False
    return not (isinstance(v, str) and v == "null")
