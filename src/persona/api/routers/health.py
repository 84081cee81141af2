"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Depends, Response
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from persona.api.deps import AppState, require, state

log = logging.getLogger(__name__)

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(response: Response, st: AppState = Depends(state)) -> dict[str, object]:
    """The database answers, the schema is current and the key is not retired (503 otherwise); says whether a
    model is served and whether key-derived writes are paused by a key rotation."""
    checks: dict[str, object] = {}
    try:
        with st.store.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        st.store.check_schema()
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - readiness reports, never raises
        checks["database"] = f"error: {exc}"
        response.status_code = 503
    try:
        st.keys.check_rotation(st.store)
    except Exception as exc:  # noqa: BLE001 - the database check above reports the cause
        log.warning("key rotation check failed: %s", exc)
    problem = st.keys.problem()
    checks["key"] = problem or "ok"
    if st.keys.rotated:
        response.status_code = 503
    checks["model"] = f"{st.recs.model_name} v{st.recs.model_version}" if st.recs.model is not None else "none"
    checks["model_age_seconds"] = st.recs.freshness()["age_seconds"]
    if st.live is not None:
        live = st.live.status()
        checks["live_loop"] = "ok" if live["running"] and not live["last_error"] else f"degraded: {live['last_error']}"
    return {"status": "ok" if response.status_code != 503 else "unavailable", "checks": checks}


@router.get("/metrics", dependencies=[Depends(require("read"))], response_class=PlainTextResponse,
            responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "Prometheus text format"}})
def metrics() -> Response:
    """Prometheus metrics (request counts and latencies per route)."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
