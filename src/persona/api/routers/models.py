"""The model registry over HTTP: versions with metrics, the served model's freshness and drift, promote, rollback."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path

from persona.api.deps import AppState, require, state
from persona.registry.models import NAME_PATTERN

router = APIRouter(prefix="/v1/models", tags=["models"])
NAME = Path(..., max_length=128, pattern=NAME_PATTERN)


def serving_status(st: AppState) -> dict[str, Any]:
    """The served model, its age, drift since training and the latest retrain's decision."""
    from persona.api.retrain import drift, last_report, with_metric_drop

    recs = st.recs
    out: dict[str, Any] = {"serving": recs.freshness(), "last_retrain": last_report(st.store)}
    if recs.model is not None:
        out["drift"] = with_metric_drop(drift(st.store, recs.model, recs.model_metrics), out["last_retrain"],
                                        recs.model_name or "", recs.model_version)
    if st.live is not None:
        out["live_loop"] = st.live.status()
    return out


@router.get("", dependencies=[Depends(require("read"))])
def list_versions(st: AppState = Depends(state)) -> dict[str, Any]:
    """Every registered version (metrics, status), plus the served model's freshness and drift."""
    from persona.registry import list_models

    return {"versions": [mv.to_dict() for mv in list_models(st.store)], **serving_status(st)}


@router.post("/{name}/promote/{version}", dependencies=[Depends(require("admin"))])
def promote_version(version: int, name: str = NAME, st: AppState = Depends(state)) -> dict[str, Any]:
    """Make a version active; this worker serves it at once, the others within seconds."""
    from persona.registry import promote

    mv = promote(st.store, name, version)
    st.recs.refresh_model()
    return mv.to_dict()


@router.post("/{name}/rollback", dependencies=[Depends(require("admin"))])
def rollback_version(name: str = NAME, st: AppState = Depends(state)) -> dict[str, Any]:
    """Re-activate the version in use before the active one."""
    from persona.registry import rollback

    mv = rollback(st.store, name)
    st.recs.refresh_model()
    return mv.to_dict()
