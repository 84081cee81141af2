"""API keys: random secrets shown once, stored only as SHA-256 hashes, each with a scope.

Scopes are ordered: ``read`` < ``write`` < ``admin``; a key may call every route at or below its scope.
A key looks like ``pk_<prefix>_<secret>``; the prefix (not secret) finds the row, the hash proves it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update

from persona.errors import InputError, NotFoundError
from persona.store.models import ApiKey

SCOPES = ("read", "write", "admin")


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def scope_allows(have: str, need: str) -> bool:
    """Whether a key of scope ``have`` may call a route that needs ``need``."""
    return SCOPES.index(have) >= SCOPES.index(need)


def create_key(store: Any, scope: str, name: str | None = None) -> dict[str, Any]:
    """Create a key; the returned ``key`` is the only time the secret is ever shown."""
    if scope not in SCOPES:
        raise InputError(f"unknown scope {scope!r}", hint=f"use one of {', '.join(SCOPES)}")
    prefix = secrets.token_hex(4)
    key = f"pk_{prefix}_{secrets.token_urlsafe(32)}"
    now = datetime.now(UTC)
    with store.session() as s:
        s.add(ApiKey(prefix=prefix, key_hash=_hash(key), scope=scope, name=name, created_at=now))
    return {"key": key, "prefix": prefix, "scope": scope, "name": name, "created_at": now.isoformat()}


def verify_key(store: Any, key: str) -> ApiKey | None:
    """The active key row matching ``key``, or None (unknown, malformed or revoked)."""
    parts = key.split("_")
    if len(parts) < 3 or parts[0] != "pk":
        return None
    with store.session() as s:
        row = s.scalar(select(ApiKey).where(ApiKey.prefix == parts[1]))
    if row is None or row.revoked_at is not None or not hmac.compare_digest(row.key_hash, _hash(key)):
        return None
    return row


def touch(store: Any, prefix: str) -> None:
    with store.session() as s:
        s.execute(update(ApiKey).where(ApiKey.prefix == prefix).values(last_used_at=datetime.now(UTC)))


def revoke_key(store: Any, prefix: str) -> None:
    """Revoke a key by its prefix; it stops working at once."""
    with store.session() as s:
        n = s.execute(update(ApiKey).where(ApiKey.prefix == prefix, ApiKey.revoked_at.is_(None)).values(revoked_at=datetime.now(UTC))).rowcount
    if not n:
        raise NotFoundError(f"no active key with prefix {prefix!r}", hint="list keys with `persona keys list`")


def list_keys(store: Any) -> list[dict[str, Any]]:
    df = store.read_frame("SELECT prefix, scope, name, created_at, revoked_at, last_used_at FROM api_keys ORDER BY created_at")
    return df.astype(object).where(df.notna(), None).to_dict(orient="records")
