"""``POST /v1/events``: behavioural events in batches, idempotent on ``event_id``.

Events go through the same validation, de-duplication and stub creation as file ingestion; the
customers they name get their cached recommendations recomputed on the next request.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd
from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from persona.api.deps import AppState, require, state

router = APIRouter(prefix="/v1", tags=["events"])
MAX_BATCH = 1000


class EventIn(BaseModel):
    model_config = ConfigDict(extra="allow")

    event_id: str | None = Field(default=None, max_length=128, description="Your id; retries with the same id are ignored.")
    customer_id: str = Field(min_length=1, max_length=128)
    product_id: str | None = Field(default=None, max_length=128)
    event_type: str = Field(min_length=1, max_length=64, examples=["view", "add_to_cart", "purchase"])
    timestamp: datetime
    value: float | None = None
    quantity: float | None = None
    revenue: float | None = None
    channel: str | None = Field(default=None, max_length=64)
    session_id: str | None = Field(default=None, max_length=128)


class EventBatch(BaseModel):
    events: list[EventIn] = Field(min_length=1, max_length=MAX_BATCH)


class EventResult(BaseModel):
    received: int
    accepted: int
    duplicates: int
    rejected: int
    quarantine: str | None = None


@router.post("/events", response_model=EventResult, dependencies=[Depends(require("write"))])
def post_events(batch: EventBatch, st: AppState = Depends(state)) -> EventResult:
    """Store up to 1,000 events. ``received == accepted + duplicates + rejected``."""
    from persona.ingest.runner import ingest_frames

    rows: list[dict[str, Any]] = [e.model_dump(mode="json") for e in batch.events]
    frame = pd.DataFrame(rows)
    report = ingest_frames(st.store, "events", [frame], source="api:/v1/events", progress=False)
    st.recs.invalidate(sorted({e.customer_id for e in batch.events}))
    return EventResult(received=report.read, accepted=report.accepted, duplicates=report.duplicates,
                       rejected=report.rejected, quarantine=report.quarantine)
