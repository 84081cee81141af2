"""Campaigns over HTTP: create, validate, preview, run, status."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Query

from persona.api.deps import AppState, require, state
from persona.campaigns.planner import plan_campaign, save_campaign, validate_campaign
from persona.campaigns.spec import CampaignSpec, parse_spec
from persona.campaigns.status import campaign_status
from persona.errors import NotFoundError
from persona.jsonvalues import utc_iso
from persona.store.models import Campaign

router = APIRouter(prefix="/v1/campaigns", tags=["campaigns"])
YAML_EXAMPLE = "name: welcome\ngroups:\n  - {name: all, strategy: recommendations}\nchannels: [outbox]\n"


def _stored(st: AppState, name: str) -> CampaignSpec:
    with st.store.session() as s:
        row = s.get(Campaign, name)
    if row is None:
        raise NotFoundError(f"no campaign {name!r}")
    return CampaignSpec.model_validate(row.spec)


@router.get("", dependencies=[Depends(require("read"))])
def list_campaigns(st: AppState = Depends(state)) -> list[dict[str, Any]]:
    df = st.store.read_frame("SELECT name, status, updated_at FROM campaigns ORDER BY name")
    return [{"name": r.name, "status": r.status, "updated_at": utc_iso(r.updated_at)} for r in df.itertuples()]


@router.post("/validate", dependencies=[Depends(require("read"))])
def validate(spec: str = Body(..., media_type="text/plain", examples=[YAML_EXAMPLE], min_length=1, max_length=100_000), st: AppState = Depends(state)) -> dict[str, Any]:
    """Validate a YAML spec: every mistake with its line and column (422)."""
    parsed = parse_spec(spec, "request")
    validate_campaign(st.store, parsed)
    return {"valid": True, "name": parsed.name}


@router.post("", dependencies=[Depends(require("write"))], status_code=201)
def create(spec: str = Body(..., media_type="text/plain", examples=[YAML_EXAMPLE], min_length=1, max_length=100_000), st: AppState = Depends(state)) -> dict[str, Any]:
    """Create or replace a campaign from a YAML spec."""
    parsed = parse_spec(spec, "request")
    validate_campaign(st.store, parsed)
    save_campaign(st.store, parsed)
    return {"created": parsed.name}


@router.get("/{name}/preview", dependencies=[Depends(require("read"))])
def preview(name: str, customer: str = Query(..., max_length=128), st: AppState = Depends(state)) -> dict[str, Any]:
    """Exactly what the customer would receive."""
    from persona.campaigns.preview import preview as do_preview

    m = do_preview(st.store, st.settings, _stored(st, name), customer, recommender=st.recs.model)
    return {"to": m.to_address, "subject": m.subject, "text": m.text, "html": m.html, "items": m.payload.get("items", [])}


@router.post("/{name}/run", dependencies=[Depends(require("admin"))])
def run(name: str, run_key: str | None = Query(None, max_length=128), deliver: bool = True, st: AppState = Depends(state)) -> dict[str, Any]:
    """Plan a run (idempotent on ``run_key``) and deliver it."""
    from persona.campaigns.worker import Worker

    res = plan_campaign(st.store, st.settings, _stored(st, name), run_key=run_key, recommender=st.recs.model)
    out: dict[str, Any] = {"plan": res.to_dict()}
    if deliver:
        out["delivery"] = Worker(st.store, st.settings).run(name).to_dict()
    return out


@router.get("/{name}/status", dependencies=[Depends(require("read"))])
def status(name: str, st: AppState = Depends(state)) -> dict[str, Any]:
    return campaign_status(st.store, name)
