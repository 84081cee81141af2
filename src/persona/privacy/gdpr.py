"""Data-subject rights: export everything held about a person, and erase it (GDPR art. 15, 17, 20).

Erasure removes PII, events, reviews, profile, segment memberships, predictions, exposures and outbox
rows, keeps a tombstone (the id and ``erased_at``) so that no later send can reach the person, and
writes an audit record that names the person only by pseudonym. Served models forget the person at
their next retrain; the service also drops them from its in-memory factors at once. The tables erasure
empties, the customer columns it blanks and what it keeps are listed once, in :mod:`persona.privacy.scope`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update

from persona.errors import NotFoundError
from persona.privacy.crypto import PIICipher
from persona.privacy.scope import ERASED_CUSTOMER_COLUMNS, ERASED_TABLES
from persona.store.models import TABLES, AuditLog, Consent, Customer


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


def erase_customer(store: Any, settings: Any, customer_id: str, *, actor: str = "cli") -> dict[str, int]:
    """Erase a customer everywhere; returns how many rows of each kind were removed.

    Raises:
        NotFoundError: unknown or already erased customer.
    """
    counts: dict[str, int] = {}
    with store.session() as s:
        c = s.get(Customer, customer_id)
        if c is None or c.erased_at is not None:
            raise NotFoundError(f"no customer {customer_id!r}", hint="it may have been erased already")
        key = c.customer_key
        for name in ERASED_TABLES:
            table = TABLES[name]
            counts[name] = int(s.execute(delete(table).where(table.c.customer_id == customer_id)).rowcount or 0)
        # consent history is evidence the shop must keep (scope.KEPT_TABLES); it holds no PII beyond the id
        counts["consents_kept"] = len(list(s.scalars(select(Consent.id).where(Consent.customer_id == customer_id))))
        s.execute(
            update(Customer)
            .where(Customer.customer_id == customer_id)
            .values(**dict.fromkeys(ERASED_CUSTOMER_COLUMNS), erased_at=datetime.now(UTC))
        )
        s.add(AuditLog(ts=datetime.now(UTC), actor=actor, action="erase", subject=key, details=counts))
    if store.dialect == "sqlite":  # deleted pages are zeroed (secure_delete) and the WAL copy is truncated
        with store.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    return counts
