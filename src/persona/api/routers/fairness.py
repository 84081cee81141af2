"""The fairness audit over HTTP: the served recommender's lists, the stored scores and the campaigns, by customer group."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query

from persona.api.deps import AppState, require, state
from persona.jsonvalues import plain

router = APIRouter(prefix="/v1/fairness", tags=["fairness"])


@router.get("", dependencies=[Depends(require("read"))])
def fairness(
    by: str | None = Query(None, max_length=200, description="Comma-separated customer attributes (gender, age, country, "
                                                             "language, occupation, segment); default: those present."),
    campaign: list[str] | None = Query(None, description="Audit these campaigns' latest runs (default: every campaign with a run)."),
    top_share: float = Query(0.1, gt=0, lt=1, description="Share of top-scored customers a campaign would target."),
    min_group: int = Query(30, ge=2, le=1_000_000, description="Groups with fewer customers are listed, not judged."),
    st: AppState = Depends(state),
) -> dict[str, Any]:
    """Group comparisons (as ``persona fairness --json``): findings first, then recommendations, predictions, campaigns."""
    from persona.fairness.workspace import audit_workspace

    attributes = [a.strip() for a in by.split(",") if a.strip()] if by else None
    report = audit_workspace(st.store, attributes, campaigns=campaign, recommender=st.recs.current(), top_share=top_share,
                             min_group=min_group, seed=st.settings.seed)
    return plain(report.to_dict())
