"""Shared dependencies: the app state (settings, store, services), authentication by scope, rate limits."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from persona.api.keys import scope_allows, verify_key
from persona.api.syncjobs import SyncJobs
from persona.config import Settings
from persona.errors import AuthError, ForbiddenError, PersonaError


class RateLimited(PersonaError):
    code = "rate_limited"
    http_status = 429


class TokenBucket:
    """Per-key token buckets: ``rate`` requests a second on average, bursts up to ``burst``."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst = rate, burst
        self._state: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str, cost: float = 1.0) -> bool:
        now = time.monotonic()
        with self._lock:
            tokens, last = self._state.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            ok = tokens >= cost
            self._state[key] = (tokens - cost if ok else tokens, now)
        return ok


@dataclass
class AppState:
    settings: Settings
    store: Any
    keys: Any  # persona.privacy.keysource.CipherSource: the current cipher and link signer
    recs: Any
    limiter: TokenBucket
    live: Any = None  # persona.api.live.LiveLoop when the background loop runs
    sink: Any = None  # persona.api.eventsink.EventSink, created on first use
    exposed: dict[str, set[str]] = field(default_factory=dict)  # experiment -> customers whose exposure is logged
    key_cache: dict[str, tuple[str, str, float]] = field(default_factory=dict)  # key -> (prefix, scope, checked_at)
    jobs: SyncJobs = field(default_factory=SyncJobs)  # background pulls of the configured sources


async def state(request: Request) -> AppState:
    """The app's state (async: no thread-pool hop for a dictionary lookup)."""
    return request.app.state.persona


def _bearer(request: Request) -> str | None:
    auth = request.headers.get("authorization")
    if auth and auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.headers.get("x-api-key")


KEY_CACHE_SECONDS = 5.0  # a revoked key stops working within this many seconds


def require(scope: str) -> Callable[..., str]:
    """Dependency: the request carries a valid key whose scope covers ``scope``; returns the key prefix."""

    async def dep(request: Request, st: AppState = Depends(state)) -> str:
        key = _bearer(request)
        if not key:
            raise AuthError("missing API key", hint="send `Authorization: Bearer KEY` or `X-API-Key: KEY`")
        cached = st.key_cache.get(key)
        if cached and time.monotonic() - cached[2] < KEY_CACHE_SECONDS:
            prefix, have = cached[0], cached[1]
        else:
            row = await run_in_threadpool(verify_key, st.store, key)
            if row is None:
                st.key_cache.pop(key, None)
                raise AuthError("invalid or revoked API key", hint="create one with `persona keys create --scope read`")
            prefix, have = row.prefix, row.scope
            st.key_cache[key] = (prefix, have, time.monotonic())
        if not scope_allows(have, scope):
            raise ForbiddenError(f"this key has scope {have!r}; the route needs {scope!r}", hint=f"use a key created with --scope {scope}")
        if not st.limiter.allow(prefix):
            raise RateLimited("rate limit exceeded for this key", hint="slow down or raise PERSONA_API_RATE_LIMIT")
        request.state.key_prefix = prefix
        return prefix

    return dep
