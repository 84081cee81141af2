"""Customer resources: profile, predictions, consent, and the data-subject rights (export, erasure)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from persona.api.deps import AppState, require, state
from persona.errors import NotFoundError
from persona.privacy.consent import consent_state, record_consent
from persona.privacy.gdpr import erase_customer, export_customer

router = APIRouter(prefix="/v1/customers", tags=["customers"])


def _known(st: AppState, cid: str) -> None:
    df = st.store.read_frame("SELECT customer_id FROM customers WHERE customer_id = :c AND erased_at IS NULL", {"c": cid})
    if df.empty:
        raise NotFoundError(f"no customer {cid!r}")


@router.get("/{customer_id}/profile", dependencies=[Depends(require("read"))])
def profile(customer_id: str, st: AppState = Depends(state)) -> dict[str, Any]:
    """The customer's profile features, segments and predictions (no PII)."""
    _known(st, customer_id)
    p = st.store.read_frame("SELECT features, updated_at FROM profiles WHERE customer_id = :c", {"c": customer_id})
    seg = st.store.read_frame("SELECT method, segment_id FROM segment_memberships WHERE customer_id = :c", {"c": customer_id})
    pred = st.store.read_frame("SELECT name, value FROM predictions WHERE customer_id = :c", {"c": customer_id})
    feats = p["features"].iloc[0] if len(p) else None
    return {
        "customer_id": customer_id,
        "features": (json.loads(feats) if isinstance(feats, str) else feats) if feats is not None else None,
        "updated_at": str(p["updated_at"].iloc[0]) if len(p) else None,
        "segments": dict(zip(seg["method"], seg["segment_id"], strict=True)),
        "predictions": {k: (None if v != v else float(v)) for k, v in zip(pred["name"], pred["value"], strict=True)},
    }


@router.get("/{customer_id}/predictions", dependencies=[Depends(require("read"))])
def predictions(customer_id: str, st: AppState = Depends(state)) -> dict[str, Any]:
    _known(st, customer_id)
    pred = st.store.read_frame("SELECT name, value, model_version, updated_at FROM predictions WHERE customer_id = :c", {"c": customer_id})
    return {"customer_id": customer_id, "predictions": json.loads(pred.to_json(orient="records", date_format="iso"))}


class ConsentIn(BaseModel):
    channel: str = Field(min_length=1, max_length=32, examples=["email"])
    purpose: str = Field(default="marketing", min_length=1, max_length=64)
    granted: bool
    source: str = Field(default="api", max_length=128)


@router.post("/{customer_id}/consents", dependencies=[Depends(require("write"))])
def set_consent(customer_id: str, body: ConsentIn, st: AppState = Depends(state)) -> dict[str, Any]:
    """Record a consent decision; the next send honours it."""
    _known(st, customer_id)
    record_consent(st.store, customer_id, body.channel, body.purpose, body.granted, body.source)
    return {"customer_id": customer_id, "channel": body.channel.lower(), "purpose": body.purpose.lower(),
            "granted": consent_state(st.store, body.channel, body.purpose, [customer_id])[customer_id]}


@router.get("/{customer_id}/export", dependencies=[Depends(require("admin"))])
def export(customer_id: str, st: AppState = Depends(state)) -> dict[str, Any]:
    """Everything held about the person, machine-readable (GDPR art. 15 and 20)."""
    return export_customer(st.store, st.settings, customer_id, actor="api")


@router.delete("/{customer_id}", dependencies=[Depends(require("admin"))])
def erase(customer_id: str, st: AppState = Depends(state)) -> dict[str, Any]:
    """Erase the person: PII, events, reviews, profile, segments, outbox and quarantined rows; served lists forget
    them now. Idempotent: on an erased customer it finishes the erasure and says what it found left (``again``,
    ``changed``, ``cleared``), keeping the first erasure's time."""
    out = erase_customer(st.store, st.settings, customer_id, actor="api")
    st.recs.invalidate([customer_id])
    st.recs.forget(customer_id)
    if st.sink is not None:  # events posted for them from now on are not stored
        st.sink.forget(customer_id)
    return {"status": "erased", **{k: v for k, v in out.items() if k != "customer_id"}}
