"""``POST /v1/events``: behavioural events in batches, idempotent on ``event_id``.

Events go through the same validation, de-duplication and stub creation as file ingestion
(:mod:`persona.api.eventbatch` reads and types the body, :mod:`persona.api.eventsink` writes it,
group-committed); the customers they name are served by fold-in from then on (:mod:`persona.api.live`).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from persona.api.deps import AppState, require, state
from persona.api.eventbatch import BATCH, MAX_BATCH, EventBatch, EventIn, ParsedBatch, read_batch
from persona.errors import InputError

router = APIRouter(prefix="/v1", tags=["events"])
__all__ = ["BATCH", "MAX_BATCH", "EventBatch", "EventIn", "EventResult", "router"]


class EventResult(BaseModel):
    received: int
    accepted: int
    duplicates: int
    rejected: int
    quarantine: str | None = None


def _store(st: AppState, batch: ParsedBatch) -> object:
    rows = batch.rows
    return st.sink.write(rows) if isinstance(rows, list) else st.sink.write_rows(rows)


@router.post("/events", response_model=EventResult, dependencies=[Depends(require("write"))],
             openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                 "schema": {"$ref": "#/components/schemas/EventBatch"}}}}})
async def post_events(request: Request, st: AppState = Depends(state)) -> EventResult:
    """Store up to 1,000 events. ``received == accepted + duplicates + rejected``."""
    if request.headers.get("content-type", "application/json").split(";")[0].strip() not in ("application/json", ""):
        raise InputError("send the batch as application/json", hint='Content-Type: application/json; body {"events": [...]}')
    batch = await run_in_threadpool(read_batch, await request.body())
    res = await run_in_threadpool(_store, st, batch)
    st.recs.mark_changed(batch.customers)
    return EventResult(received=res.received, accepted=res.accepted, duplicates=res.duplicates,
                       rejected=res.rejected, quarantine=res.quarantine)
