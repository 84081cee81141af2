"""``POST /v1/events``: behavioural events in batches, idempotent on ``event_id``.

Events go through the same validation, de-duplication and stub creation as file ingestion
(:mod:`persona.api.eventsink`, group-committed); the customers they name are served by fold-in from
then on (:mod:`persona.api.live`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool

from persona.api.deps import AppState, require, state
from persona.errors import InputError

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


BATCH = TypeAdapter(EventBatch)


def _parse(raw: bytes) -> EventBatch:
    """Parse and validate in one pass (pydantic-core reads the JSON), errors as the usual 422."""
    try:
        return BATCH.validate_json(raw)
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]) from None


@router.post("/events", response_model=EventResult, dependencies=[Depends(require("write"))],
             openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                 "schema": {"$ref": "#/components/schemas/EventBatch"}}}}})
async def post_events(request: Request, st: AppState = Depends(state)) -> EventResult:
    """Store up to 1,000 events. ``received == accepted + duplicates + rejected``."""
    if request.headers.get("content-type", "application/json").split(";")[0].strip() not in ("application/json", ""):
        raise InputError("send the batch as application/json", hint='Content-Type: application/json; body {"events": [...]}')
    batch = await run_in_threadpool(_parse, await request.body())
    rows: list[dict[str, Any]] = [e.model_dump(mode="json") for e in batch.events]
    res = await run_in_threadpool(st.sink.write, rows)
    st.recs.mark_changed(sorted({e.customer_id for e in batch.events}))
    return EventResult(received=res.received, accepted=res.accepted, duplicates=res.duplicates,
                       rejected=res.rejected, quarantine=res.quarantine)
