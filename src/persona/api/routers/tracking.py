"""Tracking endpoints e-mail clients reach without a key: open pixel, click redirect, one-click unsubscribe."""

from __future__ import annotations

import base64

from fastapi import APIRouter, Depends, Query, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from persona.api.deps import AppState, state
from persona.campaigns.tracking import record_click, record_open, record_unsubscribe
from persona.errors import NotFoundError

router = APIRouter(prefix="/t", tags=["tracking"])
SIG = r"^[0-9a-f]*$"  # link signatures are hex; anything else is refused before the comparison
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


@router.get("/open/{message_id}.gif", response_class=Response,
            responses={200: {"content": {"image/gif": {"schema": {"type": "string", "format": "binary"}}}, "description": "1×1 GIF"}})
def open_pixel(message_id: str, st: AppState = Depends(state)) -> Response:
    """Records an open (once per message) and returns a 1×1 GIF whatever happens."""
    try:
        record_open(st.store, message_id)
    except NotFoundError:
        pass
    return Response(PIXEL, media_type="image/gif", headers={"Cache-Control": "no-store"})


@router.get("/click/{message_id}", response_class=RedirectResponse, status_code=302,
            responses={302: {"description": "Redirect to the signed target"}})
def click(message_id: str, u: str = Query(..., max_length=2048), s: str = Query(..., max_length=64, pattern=SIG), st: AppState = Depends(state)) -> RedirectResponse:
    """Records a click and redirects to the signed target URL (unsigned targets are refused)."""
    return RedirectResponse(record_click(st.store, st.keys.signer(), message_id, u, s), status_code=302)


UNSUB_DOC = {200: {"content": {"text/html": {"schema": {"type": "string"}}}, "description": "Confirmation page"}}


@router.get("/unsub/{message_id}", response_class=Response, operation_id="unsubscribe_get", responses=UNSUB_DOC)
@router.post("/unsub/{message_id}", response_class=Response, operation_id="unsubscribe_post", responses=UNSUB_DOC)
def unsubscribe(message_id: str, s: str = Query(..., max_length=64, pattern=SIG), st: AppState = Depends(state)) -> HTMLResponse:
    """One-click unsubscribe (RFC 8058): withdraws consent for the channel; later sends are suppressed."""
    record_unsubscribe(st.store, st.keys.signer(), message_id, s)
    return HTMLResponse("<!doctype html><title>Unsubscribed</title><p>You are unsubscribed. You will not receive these e-mails again.</p>")
