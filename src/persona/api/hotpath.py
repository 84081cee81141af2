"""ASGI fast path for the hottest request: ``GET /v1/recommendations/{id}`` (optionally ``?k=N``) for a cached list.

It answers from the in-process cache of :class:`~persona.api.service.RecommendationService` with the
same authentication (a key already verified within ``KEY_CACHE_SECONDS`` and of a scope covering
``read``), the same per-key rate limit and the same JSON as the FastAPI route, skipping routing,
dependency resolution and validation. Anything else — an unknown or stale key, a list not cached,
filters, an experiment, any other query parameter — goes to the regular route, which does the full work.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from persona.api import deps
from persona.api.keys import scope_allows

PREFIX = "/v1/recommendations/"
HEADERS = [(b"content-type", b"application/json")]


class HotRecommendations:
    """Serve cached recommendation lists before FastAPI's router; fall through on anything unusual."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._route: Any = None

    def _route_for(self, scope: dict[str, Any]) -> Any:
        if self._route is None:
            for r in scope["app"].routes:
                if getattr(r, "path", "") == PREFIX + "{customer_id}":
                    self._route = r
                    break
        return self._route

    def _body(self, scope: dict[str, Any]) -> bytes | None:
        st = getattr(scope["app"].state, "persona", None)
        if st is None:
            return None
        cid = scope["path"][len(PREFIX):]
        if not cid or "/" in cid or len(cid) > 512:
            return None
        k = 10
        qs = scope["query_string"]
        if qs:
            if not qs.startswith(b"k=") or not qs[2:].isdigit():
                return None
            k = int(qs[2:])
            if not 1 <= k <= 100:
                return None
        key = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                v = value.decode("latin-1")
                if v[:7].lower() == "bearer ":
                    key = v[7:].strip()
                    break
            elif name == b"x-api-key":
                key = value.decode("latin-1")
        if not key:
            return None
        cached = st.key_cache.get(key)
        if not cached or time.monotonic() - cached[2] >= deps.KEY_CACHE_SECONDS or not scope_allows(cached[1], "read"):
            return None
        items = st.recs.cached(cid, k)
        if items is None or not st.limiter.allow(cached[0]):
            return None
        return orjson.dumps({"customer_id": cid, "model": st.recs.model_name, "version": st.recs.model_version, "items": items})

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and scope["path"].startswith(PREFIX):
            body = self._body(scope)
            if body is not None:
                route = self._route_for(scope)
                if route is not None:
                    scope["route"] = route  # for the metrics middleware's per-route label
                await send({"type": "http.response.start", "status": 200,
                            "headers": [*HEADERS, (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)
