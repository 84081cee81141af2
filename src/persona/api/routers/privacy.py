"""The workspace's privacy report over HTTP (admin scope: it describes where personal data sits)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query

from persona.api.deps import AppState, require, state
from persona.jsonvalues import plain

router = APIRouter(prefix="/v1/privacy", tags=["privacy"])


@router.get("/report", dependencies=[Depends(require("admin"))])
def report(k: int = Query(5, ge=2, le=1000, description="k-anonymity threshold."), st: AppState = Depends(state)) -> dict[str, Any]:
    """As ``persona privacy report --json``: PII at rest and in plain text, re-identification risk, consent, erasure, access."""
    from persona.privacy.report import privacy_report

    return plain(privacy_report(st.store, st.settings, k=k))
