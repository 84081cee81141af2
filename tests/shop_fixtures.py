"""Test helpers shared by suites: a small shop with encrypted e-mails and consents, and a recording SMTP inbox."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from typing import Any

from persona.config import Settings
from persona.privacy.crypto import PIICipher
from persona.store import Store

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def seed_shop(store: Store, settings: Settings, n: int, *, opted_out: set[int] = frozenset(), no_email: set[int] = frozenset(),
              tz: str = "UTC") -> list[str]:
    """Customers c00000… with e-mail consent (granted unless opted out), 20 products, one purchase each."""
    cipher = PIICipher.from_settings(settings)
    ids = [f"c{i:05d}" for i in range(n)]
    cust = [
        {
            "customer_id": cid,
            "customer_key": cipher.pseudonym(cid),
            "email_enc": None if i in no_email else cipher.encrypt(f"{cid}@example.org"),
            "name_enc": cipher.encrypt(f"Name{i} Last"),
            "language": "zh" if i % 10 == 9 else "en",
            "timezone": tz,
            "country": "DE" if i % 2 else "FR",
            "created_at": NOW - timedelta(days=100),
            "is_stub": False,
        }
        for i, cid in enumerate(ids)
    ]
    store.bulk_insert("customers", cust)
    store.bulk_insert(
        "products",
        [
            {"product_id": f"p{j}", "title": f"Product {j}", "category": "Home" if j % 2 else "Garden", "price": 10.0 + j,
             "in_stock": True, "created_at": NOW - timedelta(days=j), "is_stub": False}
            for j in range(20)
        ],
    )
    from persona.privacy.consent import consent_row_hash

    cons = []
    for i, cid in enumerate(ids):
        ts = NOW - timedelta(days=50)
        cons.append({"customer_id": cid, "channel": "email", "purpose": "marketing", "granted": True, "ts": ts, "source": "signup",
                     "row_hash": consent_row_hash(cid, "email", "marketing", True, ts, "signup")})
        if i in opted_out:
            ts2 = NOW - timedelta(days=5)
            cons.append({"customer_id": cid, "channel": "email", "purpose": "marketing", "granted": False, "ts": ts2, "source": "form",
                         "row_hash": consent_row_hash(cid, "email", "marketing", False, ts2, "form")})
    store.bulk_insert("consents", cons)
    store.bulk_insert(
        "events",
        [
            {"event_id": f"e{i}", "customer_id": cid, "product_id": f"p{i % 20}", "event_type": "purchase",
             "ts": NOW - timedelta(days=3 + i % 30), "revenue": 20.0, "quantity": 1.0}
            for i, cid in enumerate(ids)
        ],
    )
    return ids




class Inbox:
    """What a real SMTP server (aiosmtpd on loopback) received."""

    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd hook name
        msg = message_from_bytes(envelope.content)
        with self.lock:
            self.messages.append(msg)
        return "250 Message accepted for delivery"

    def __len__(self) -> int:
        with self.lock:
            return len(self.messages)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


