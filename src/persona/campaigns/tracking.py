"""Tracking links: signed open-pixel, click-redirect and unsubscribe URLs, and the events they record.

Click URLs carry an HMAC of (message id, target) so the redirect cannot be abused as an open redirect;
unsubscribe tokens carry an HMAC of the message id. Recording an open or click appends an
``email_open`` / ``email_click`` event for the customer, so the feedback flows back into the store.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

from sqlalchemy import select

from persona.errors import InputError, NotFoundError
from persona.privacy.consent import record_consent
from persona.store.models import Message

#: how long links signed before a key rotation keep working (an unsubscribe link must work long after the send)
LINK_GRACE = timedelta(days=400)


class Signer:
    """HMAC-SHA256 signatures for tracking links, keyed from the workspace secret.

    Args:
        key: the signing key (derived from the workspace's current master key).
        previous: keys that still verify but no longer sign: those of master keys retired by a key rotation in
            the last :data:`LINK_GRACE`, so links in e-mails sent before it keep working.
    """

    def __init__(self, key: bytes, previous: tuple[bytes, ...] = ()) -> None:
        self._key = key
        self._previous = previous

    @staticmethod
    def link_key(master_key: bytes) -> bytes:
        """The link-signing key of a master key."""
        from persona.privacy.crypto import PIICipher

        return Signer.cipher_key(PIICipher(master_key))

    @staticmethod
    def cipher_key(cipher: Any) -> bytes:
        """The link-signing key of a :class:`~persona.privacy.crypto.PIICipher`'s master key."""
        return cipher.pseudonym("persona/tracking-link-key/v1").encode("ascii")

    @classmethod
    def from_settings(cls, settings: Any) -> Signer:
        """The signer of the workspace's key (read now; long-running code asks a ``CipherSource`` instead)."""
        from persona.privacy.crypto import PIICipher

        return cls.for_cipher(PIICipher.from_settings(settings), settings)

    @classmethod
    def for_cipher(cls, cipher: Any, settings: Any) -> Signer:
        """The signer of ``cipher``'s key, verifying with the keys kept beside ``settings.key_path`` too."""
        from persona.privacy.keyfiles import retired_keys

        key = cls.cipher_key(cipher)
        previous = tuple(cls.link_key(k) for k in retired_keys(settings.key_path, LINK_GRACE))
        return cls(key, previous)

    def sign(self, *parts: str) -> str:
        return self._sign(self._key, parts)

    @staticmethod
    def _sign(key: bytes, parts: tuple[str, ...]) -> str:
        return hmac.new(key, "\x1f".join(parts).encode("utf-8"), hashlib.sha256).hexdigest()[:24]

    def check(self, signature: str, *parts: str) -> bool:
        """Constant-time comparison; any malformed signature (wrong length, non-ASCII) is simply invalid.

        A signature made with a key retired by a rotation in the last :data:`LINK_GRACE` is valid too.
        """
        given = (signature or "").encode("utf-8")
        ok = False
        for key in (self._key, *self._previous):
            ok |= hmac.compare_digest(self._sign(key, parts).encode("utf-8"), given)
        return ok


def open_url(base_url: str, message_id: str) -> str:
    return f"{base_url.rstrip('/')}/t/open/{message_id}.gif"


def click_url(base_url: str, signer: Signer, message_id: str, target: str) -> str:
    return f"{base_url.rstrip('/')}/t/click/{message_id}?" + urlencode({"u": target, "s": signer.sign(message_id, target)})


def unsubscribe_url(base_url: str, signer: Signer, message_id: str) -> str:
    return f"{base_url.rstrip('/')}/t/unsub/{quote(message_id)}?s={signer.sign(message_id, 'unsubscribe')}"


def _message(store: Any, message_id: str) -> Message:
    with store.session() as s:
        msg = s.scalar(select(Message).where(Message.message_id == message_id))
    if msg is None:
        raise NotFoundError(f"no message {message_id!r}", hint="the link may be older than a data erasure")
    return msg


def _event(store: Any, msg: Message, event_type: str, context: dict[str, Any], dedupe: str) -> bool:
    row = {
        "event_id": f"track:{event_type}:{msg.message_id}:{dedupe}",
        "customer_id": msg.customer_id,
        "product_id": context.pop("product_id", None),
        "event_type": event_type,
        "ts": datetime.now(UTC),
        "channel": msg.channel,
        "context": {"campaign": msg.campaign, "message_id": msg.message_id, **context},
    }
    return store.insert_ignore("events", [row], key=["event_id"]) == 1


def record_open(store: Any, message_id: str) -> bool:
    """An open (pixel load): one ``email_open`` event per message (repeat loads are ignored)."""
    msg = _message(store, message_id)
    return _event(store, msg, "email_open", {}, "1")


def record_click(store: Any, signer: Signer, message_id: str, target: str, signature: str) -> str:
    """A click: checks the signature, records ``email_click`` and returns the URL to redirect to."""
    if not signer.check(signature, message_id, target):
        raise InputError("invalid click link signature", hint="the link was altered; open it from the original e-mail")
    msg = _message(store, message_id)
    pid = None
    for item in (msg.payload or {}).get("items", []):
        if item.get("url") == target:
            pid = item.get("product_id")
    _event(store, msg, "email_click", {"url": target, "product_id": pid}, uuid.uuid4().hex[:12])
    return target


def record_unsubscribe(store: Any, signer: Signer, message_id: str, signature: str, purpose: str = "marketing") -> str:
    """One-click unsubscribe: appends a consent withdrawal for the message's channel; returns the customer id."""
    if not signer.check(signature, message_id, "unsubscribe"):
        raise InputError("invalid unsubscribe link signature", hint="open the link from the original e-mail")
    msg = _message(store, message_id)
    channel = "email" if msg.channel in ("email", "outbox") else msg.channel
    record_consent(store, msg.customer_id, channel, purpose, False, source=f"unsubscribe_link:{msg.campaign}")
    return msg.customer_id
