"""Consent per customer, channel and purpose, kept as an append-only history.

The row in force for a (customer, channel, purpose) is the latest by timestamp (ties: the row
written last). No row means no consent: Persona never contacts a customer by default.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from persona.errors import InputError
from persona.store.models import Consent

_IN_CHUNK = 900  # stays under SQLite's bound-parameter limit


def to_utc(ts: datetime | None) -> datetime:
    """A timezone-aware UTC datetime (naive values are taken as UTC; None is now)."""
    if ts is None:
        return datetime.now(UTC)
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def consent_row_hash(customer_id: str, channel: str, purpose: str, granted: bool, ts: datetime | None, source: str | None) -> str:
    """Content hash that de-duplicates consent rows (re-ingesting a file adds nothing).

    ``ts=None`` (a source row without a time) hashes as such, so re-ingesting it stays a duplicate.
    """
    when = "" if ts is None else to_utc(ts).strftime("%Y-%m-%dT%H:%M:%S.%f")
    key = "\x1f".join([str(customer_id), channel, purpose, "1" if granted else "0", when, source or ""])
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _norm(value: str, what: str) -> str:
    v = str(value).strip().lower()
    if not v:
        raise InputError(f"{what} must not be empty", hint="e.g. channel 'email', purpose 'marketing'")
    return v


def record_consent(
    store: Any,
    customer_id: str,
    channel: str,
    purpose: str,
    granted: bool,
    source: str | None,
    ts: datetime | None = None,
) -> bool:
    """Append one consent decision to the history (never updates or deletes).

    Args:
        store: a :class:`~persona.store.Store`.
        customer_id: the shop's customer id.
        channel: e.g. ``email``, ``sms``, ``push``.
        purpose: e.g. ``marketing``, ``personalization``.
        granted: True for opt-in, False for opt-out.
        source: where the decision came from (``signup_form``, ``unsubscribe_link``…).
        ts: when it was given; default now (UTC).

    Returns:
        True when a row was added, False when the identical row already existed.
    """
    ts_utc = to_utc(ts)
    ch, pu = _norm(channel, "channel"), _norm(purpose, "purpose")
    row = {
        "customer_id": str(customer_id),
        "channel": ch,
        "purpose": pu,
        "granted": bool(granted),
        "ts": ts_utc,
        "source": source,
        "row_hash": consent_row_hash(str(customer_id), ch, pu, bool(granted), ts_utc, source),
    }
    return store.insert_ignore("consents", [row], key=["row_hash"]) == 1


def consent_state(
    store: Any,
    channel: str,
    purpose: str,
    customer_ids: Iterable[str] | None = None,
    at: datetime | None = None,
) -> dict[str, bool]:
    """Who may be contacted on ``channel`` for ``purpose`` (at time ``at``, default now).

    Args:
        store: a :class:`~persona.store.Store`.
        channel: e.g. ``email``.
        purpose: e.g. ``marketing``.
        customer_ids: restrict to these customers; each of them appears in the result (False when
            they never consented). ``None``: every customer with a consent row for the pair.
        at: evaluate the history as of this time (rows after it are ignored).

    Returns:
        ``{customer_id: granted}`` from the latest row per customer.
    """
    ch, pu = _norm(channel, "channel"), _norm(purpose, "purpose")
    base = (
        select(Consent.customer_id, Consent.granted)
        .where(Consent.channel == ch, Consent.purpose == pu)
        .order_by(Consent.customer_id, Consent.ts, Consent.id)
    )
    if at is not None:
        base = base.where(Consent.ts <= to_utc(at))
    state: dict[str, bool] = {}
    with store.engine.connect() as conn:
        if customer_ids is None:
            for cid, granted in conn.execute(base):
                state[cid] = bool(granted)
            return state
        ids = list(dict.fromkeys(str(c) for c in customer_ids))
        state = dict.fromkeys(ids, False)
        for i in range(0, len(ids), _IN_CHUNK):
            for cid, granted in conn.execute(base.where(Consent.customer_id.in_(ids[i : i + _IN_CHUNK]))):
                state[cid] = bool(granted)
    return state
