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

from persona import __version__
from persona.api.deps import AppState, TokenBucket
from persona.api.service import RecommendationService
from persona.config import Settings, load_settings
from persona.errors import PersonaError

log = logging.getLogger(__name__)
REQUESTS = Counter("persona_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram("persona_http_request_seconds", "HTTP request latency", ["route"],
                    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5))
MAX_BODY = int(os.environ.get("PERSONA_API_MAX_BODY", str(2 * 1024 * 1024)))


def _error(status: int, code: str, message: str, hint: str | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, "hint": hint}}, status_code=status)


def create_app(settings: Settings | None = None, *, store: Any = None) -> FastAPI:
    """Build the app for a workspace (``PERSONA_WORKSPACE`` / ``PERSONA_DATABASE_URL`` by default)."""
    settings = settings or load_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from persona.campaigns.tracking import Signer
        from persona.store import open_store

        st = store or open_store(settings)
        recs = RecommendationService(st, redis_url=os.environ.get("PERSONA_REDIS_URL"))
        try:
            recs.load()
        except Exception as exc:  # noqa: BLE001 - serve without a model; /readyz says so
            log.warning("no recommender loaded: %s", exc)
        rate = float(os.environ.get("PERSONA_API_RATE_LIMIT", "5000"))
        app.state.persona = AppState(settings=settings, store=st, signer=Signer.from_settings(settings), recs=recs,
                                     limiter=TokenBucket(rate=rate, burst=rate * 2))
        yield
        if store is None:
            st.dispose()

    app = FastAPI(title="Persona", version=__version__, lifespan=lifespan,
                  description="Self-hosted engine for AI-driven personalized marketing. Authenticate with "
                              "`Authorization: Bearer KEY` or `X-API-Key: KEY` (keys: `persona keys create --scope read|write|admin`).")
    origins = [o for o in os.environ.get("PERSONA_CORS_ORIGINS", "").split(",") if o]
    if origins:
        app.add_middleware(CORSMiddleware, allow_origins=origins, allow_methods=["*"], allow_headers=["*"])

    @app.middleware("http")
    async def limits_and_metrics(request: Request, call_next: Any) -> Any:
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
            return _error(413, "too_large", f"request body over {MAX_BODY} bytes", "send smaller batches (at most 1,000 events)")
        t0 = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        LATENCY.labels(path).observe(time.perf_counter() - t0)
        REQUESTS.labels(request.method, path, str(response.status_code)).inc()
        return response

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

    from persona.api.routers import campaigns, customers, events, health, recommendations, segments, tracking

    for r in (health, tracking, events, recommendations, customers, segments, campaigns):
        app.include_router(r.router)
    try:
        from persona.api.routers import experiments

        app.include_router(experiments.router)
    except ImportError:
        pass
    try:
        from persona.web.app import mount_dashboard

        mount_dashboard(app)
    except ImportError:
        pass
    return app
