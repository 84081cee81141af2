"""``POST /v1/events``: behavioural events in batches, idempotent on ``event_id``.

Events go through the same validation, de-duplication and stub creation as file ingestion
(:mod:`persona.api.eventbatch` reads and types the body, :mod:`persona.api.eventsink` writes it,
group-committed); the customers they name are served by fold-in from then on (:mod:`persona.api.live`).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from persona.api.deps import AppState, require, state
from persona.api.eventbatch import BATCH, MAX_BATCH, EventBatch, EventIn, ParsedBatch, read_batch
from persona.errors import InputError
from persona.ingest.schema import KNOWN_EVENT_TYPES

router = APIRouter(prefix="/v1", tags=["events"])
__all__ = ["BATCH", "MAX_BATCH", "EventBatch", "EventIn", "EventResult", "router"]


class EventResult(BaseModel):
    received: int
    accepted: int
    duplicates: int
    rejected: int
    quarantine: str | None = None
    unknown_event_types: dict[str, int] = Field(
        default_factory=dict, examples=[{"order_completed": 3}],
        description="Valid events of the batch whose type Persona does not use, by type as stored (lower case, "
                    "spaces and hyphens as _), counted as file ingestion counts them; empty when there are none. "
                    "They are stored and counted above like any other event, but profiles, segments, predictions "
                    "and recommendations take their meaning from the known types "
                    f"({', '.join(KNOWN_EVENT_TYPES)}): send one of those when a type means it "
                    "(order_completed → purchase).")


def _store(st: AppState, batch: ParsedBatch) -> object:
    rows = batch.rows
    return st.sink.write(rows) if isinstance(rows, list) else st.sink.write_rows(rows)


@router.post("/events", response_model=EventResult, dependencies=[Depends(require("write"))],
             openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                 "schema": {"$ref": "#/components/schemas/EventBatch"}}}}})
async def post_events(request: Request, st: AppState = Depends(state)) -> EventResult:
    """Store up to 1,000 events. ``received == accepted + duplicates + rejected``; ``unknown_event_types`` names the
    types Persona does not use (stored all the same)."""
    if request.headers.get("content-type", "application/json").split(";")[0].strip() not in ("application/json", ""):
        raise InputError("send the batch as application/json", hint='Content-Type: application/json; body {"events": [...]}')
    batch = await run_in_threadpool(read_batch, await request.body())
    res = await run_in_threadpool(_store, st, batch)
    st.recs.mark_changed(batch.customers)
    return EventResult(received=res.received, accepted=res.accepted, duplicates=res.duplicates,
                       rejected=res.rejected, quarantine=res.quarantine, unknown_event_types=res.unknown_event_types)
