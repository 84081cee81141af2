"""Logging without PII: customers appear in log lines only as a short hash of their id."""

from __future__ import annotations

import hashlib
from typing import Protocol


class _Pseudonymizer(Protocol):
    def pseudonym(self, customer_id: str) -> str: ...


def hashed_id(customer_id: object, cipher: _Pseudonymizer | None = None) -> str:
    """A short, stable stand-in for a customer id in log lines; never log the id itself.

    Args:
        customer_id: the shop's customer id.
        cipher: a :class:`~persona.privacy.crypto.PIICipher`; when given the hash is keyed (the
            customer's pseudonym), so guessable ids such as sequential numbers cannot be reversed.

    Returns:
        ``c_`` followed by 12 hex characters.
    """
    if cipher is not None:
        return "c_" + cipher.pseudonym(str(customer_id))[:12]
    return "c_" + hashlib.sha256(str(customer_id).encode("utf-8")).hexdigest()[:12]
