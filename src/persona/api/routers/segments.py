"""Segments with their explanations, and their members."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Query

from persona.api.deps import AppState, require, state
from persona.errors import NotFoundError

router = APIRouter(prefix="/v1/segments", tags=["segments"])


def _j(v: Any) -> Any:
    return json.loads(v) if isinstance(v, str) else v


@router.get("", dependencies=[Depends(require("read"))])
def list_segments(method: str | None = Query(None, max_length=32), st: AppState = Depends(state)) -> list[dict[str, Any]]:
    sql = "SELECT method, segment_id, name, size, explanation FROM segments"
    df = st.store.read_frame(sql + (" WHERE method = :m" if method else "") + " ORDER BY method, size DESC", {"m": method} if method else None)
    return [{"method": r.method, "segment_id": r.segment_id, "name": r.name, "size": int(r.size), "explanation": _j(r.explanation)}
            for r in df.itertuples()]


@router.get("/{method}/{segment_id}", dependencies=[Depends(require("read"))])
def segment(method: str, segment_id: str, limit: int = Query(100, ge=1, le=10_000), st: AppState = Depends(state)) -> dict[str, Any]:
    df = st.store.read_frame("SELECT name, size, explanation FROM segments WHERE method = :m AND segment_id = :s", {"m": method, "s": segment_id})
    if df.empty:
        raise NotFoundError(f"no segment {method}:{segment_id}", hint="list them with GET /v1/segments")
    members = st.store.read_frame(
        "SELECT customer_id FROM segment_memberships WHERE method = :m AND segment_id = :s ORDER BY customer_id LIMIT :n",
        {"m": method, "s": segment_id, "n": limit},
    )
    return {"method": method, "segment_id": segment_id, "name": df["name"].iloc[0], "size": int(df["size"].iloc[0]),
            "explanation": _j(df["explanation"].iloc[0]), "members": members["customer_id"].tolist()}
