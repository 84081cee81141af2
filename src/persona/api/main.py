"""The FastAPI application: versioned JSON API, tracking endpoints, health, metrics and the dashboard."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from prometheus_client import Counter, Histogram
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from persona import __version__
from persona.api.deps import AppState, TokenBucket
from persona.api.service import RecommendationService
from persona.config import Settings, load_settings
from persona.errors import PersonaError
from persona.store.checkpoint import WalCheckpointer

log = logging.getLogger(__name__)
REQUESTS = Counter("persona_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram("persona_http_request_seconds", "HTTP request latency", ["route"],
                    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5))
MAX_BODY = int(os.environ.get("PERSONA_API_MAX_BODY", str(2 * 1024 * 1024)))


class ErrorDetail(BaseModel):
    code: str
    message: str
    hint: str | None = None
    details: list[dict[str, Any]] | None = None


class ErrorBody(BaseModel):
    """Every error: a stable code, a message that says what was wrong, and a hint that says how to fix it."""

    error: ErrorDetail


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "Bad input"},
    401: {"model": ErrorBody, "description": "Missing, unknown or revoked API key"},
    403: {"model": ErrorBody, "description": "The key's scope does not cover this route"},
    404: {"model": ErrorBody, "description": "No such resource"},
    409: {"model": ErrorBody, "description": "Conflict with the stored state"},
    410: {"model": ErrorBody, "description": "Gone: deleted by retention (a pruned model version)"},
    413: {"model": ErrorBody, "description": "Request body too large"},
    422: {"model": ErrorBody, "description": "Invalid request"},
    429: {"model": ErrorBody, "description": "Rate limit exceeded"},
    503: {"model": ErrorBody, "description": "Not ready"},
}


def _error(status: int, code: str, message: str, hint: str | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, "hint": hint}}, status_code=status)


class LimitsAndMetrics:
    """Pure ASGI middleware: refuse oversized bodies (413) and record Prometheus counts and latencies per route.

    (Starlette's ``BaseHTTPMiddleware`` costs several times more per request.)
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                if not value.isdigit() or int(value) > MAX_BODY:
                    resp = _error(413, "too_large", f"request body over {MAX_BODY} bytes", "send smaller batches (at most 1,000 events)")
                    await resp(scope, receive, send)
                    return
                break
        t0 = time.perf_counter()
        status = [500]

        async def send_wrapper(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", "unmatched")
            LATENCY.labels(path).observe(time.perf_counter() - t0)
            REQUESTS.labels(scope["method"], path, str(status[0])).inc()


def _register_schemas(app: FastAPI) -> None:
    """Body models of routes that validate their raw body themselves (``POST /v1/events``) join the OpenAPI components."""
    from fastapi.openapi.utils import get_openapi
    from pydantic.json_schema import models_json_schema

    from persona.api.routers.events import EventBatch

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            _, defs = models_json_schema([(EventBatch, "validation")], ref_template="#/components/schemas/{model}")
            doc.setdefault("components", {}).setdefault("schemas", {}).update(defs.get("$defs", {}))
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(settings: Settings | None = None, *, store: Any = None) -> FastAPI:
    """Build the app for a workspace (``PERSONA_WORKSPACE`` / ``PERSONA_DATABASE_URL`` by default)."""
    settings = settings or load_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from persona.privacy.keysource import CipherSource
        from persona.store import open_store

        st = store or open_store(settings)
        checkpointer = WalCheckpointer(st.engine).start()  # SQLite: commits no longer wait for checkpoints
        recs = RecommendationService(st, redis_url=os.environ.get("PERSONA_REDIS_URL"),
                                     redis_prefix=os.environ.get("PERSONA_REDIS_PREFIX", "persona"))
        try:
            recs.load()
        except Exception as exc:  # noqa: BLE001 - serve without a model; /readyz says so
            log.warning("no recommender loaded: %s", exc)
        precompute = int(os.environ.get("PERSONA_PRECOMPUTE", "0") or 0)
        if precompute and recs.model is not None:
            ids = st.read_frame("SELECT customer_id FROM customers WHERE erased_at IS NULL ORDER BY customer_id")
            recs.precompute(ids["customer_id"].astype(str).tolist()[:precompute], k=10)
        live = None
        if os.environ.get("PERSONA_LIVE_LOOP", "1") != "0":
            from persona.api.live import LiveLoop

            live = LiveLoop(st, recs, poll_seconds=float(os.environ.get("PERSONA_LIVE_POLL_SECONDS", "0.25"))).start()
        from persona.api.eventsink import EventSink

        rate = float(os.environ.get("PERSONA_API_RATE_LIMIT", "5000"))
        keys = CipherSource(settings)
        app.state.persona = AppState(settings=settings, store=st, keys=keys, recs=recs,
                                     limiter=TokenBucket(rate=rate, burst=rate * 2), live=live, sink=EventSink(st, keys))
        yield
        if live is not None:
            live.stop()
        checkpointer.stop()
        if store is None:
            st.dispose()

    app = FastAPI(title="Persona", version=__version__, lifespan=lifespan,
                  description="Self-hosted engine for AI-driven personalized marketing. Authenticate with "
                              "`Authorization: Bearer KEY` or `X-API-Key: KEY` (keys: `persona keys create --scope read|write|admin`).")
    origins = [o for o in os.environ.get("PERSONA_CORS_ORIGINS", "").split(",") if o]
    if origins:
        app.add_middleware(CORSMiddleware, allow_origins=origins, allow_methods=["*"], allow_headers=["*"])

    if os.environ.get("PERSONA_API_HOT_PATH", "1") != "0":
        from persona.api.hotpath import HotRecommendations

        app.add_middleware(HotRecommendations)  # inside LimitsAndMetrics: still measured and size-limited
    app.add_middleware(LimitsAndMetrics)

    @app.exception_handler(PersonaError)
    async def persona_error(_: Request, exc: PersonaError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.http_status == 401 else None
        resp = _error(exc.http_status, exc.code, exc.message, exc.hint)
        if headers:
            resp.headers.update(headers)
        return resp

    @app.exception_handler(RequestValidationError)
    async def bad_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = [{"loc": list(e.get("loc", [])), "msg": e.get("msg", "")} for e in exc.errors()]
        return JSONResponse({"error": {"code": "bad_input", "message": "invalid request", "details": details}}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # the framework's own answers (no such route, a method the route does not take) in the API's error shape
        route = f"{request.method} {request.url.path}"
        if exc.status_code == 404:
            resp = _error(404, "not_found", f"no route {route}", "the API's routes are listed at /docs")
        elif exc.status_code == 405:
            resp = _error(405, "method_not_allowed", f"{route} is not allowed",
                          f"this path takes {exc.headers.get('Allow', 'other methods') if exc.headers else 'other methods'}")
        else:
            resp = _error(exc.status_code, "http_error", str(exc.detail))
        if exc.headers:
            resp.headers.update(exc.headers)
        return resp

    from persona.api.routers import (
        campaigns,
        customers,
        events,
        experiments,
        fairness,
        health,
        models,
        privacy,
        recommendations,
        segments,
        sources,
        tracking,
    )

    for r in (health, tracking, events, recommendations, customers, segments, campaigns, experiments, models, fairness, privacy,
              sources):
        app.include_router(r.router, responses=ERROR_RESPONSES)
    _register_schemas(app)
    try:
        from persona.web.app import mount_dashboard

        mount_dashboard(app)
    except ImportError:
        pass
    return app
