"""Recommendations for a customer and similar products, from the served model."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Query

from persona.api.deps import AppState, require, state
from persona.errors import InputError

router = APIRouter(prefix="/v1", tags=["recommendations"])
FILTER_KEYS = {"exclude_purchased", "in_stock_only", "categories_include", "categories_exclude", "price_min", "price_max", "blocklist"}


def _filters(raw: str | None) -> dict[str, Any] | None:
    if not raw:
        return None
    try:
        f = json.loads(raw)
    except ValueError as exc:
        raise InputError("filters must be a JSON object", hint='e.g. filters={"in_stock_only": true, "price_max": 50}') from exc
    if not isinstance(f, dict) or set(f) - FILTER_KEYS:
        raise InputError(f"unknown filter(s) {sorted(set(f) - FILTER_KEYS) if isinstance(f, dict) else f!r}",
                         hint=f"allowed: {', '.join(sorted(FILTER_KEYS))}")
    return f


@router.get("/recommendations/{customer_id}", dependencies=[Depends(require("read"))])
def recommendations(
    customer_id: str,
    k: int = Query(10, ge=1, le=100),
    filters: str | None = Query(None, max_length=2000, description="JSON object, e.g. {\"in_stock_only\": true}"),
    st: AppState = Depends(state),
) -> dict[str, Any]:
    """Top-k products for the customer, each with a reason (new customers get cold-start picks)."""
    items = st.recs.recommend(customer_id, k, _filters(filters))
    return {"customer_id": customer_id, "model": st.recs.model_name, "version": st.recs.model_version, "items": items}


@router.get("/products/{product_id}/similar", dependencies=[Depends(require("read"))])
def similar(product_id: str, k: int = Query(10, ge=1, le=100), st: AppState = Depends(state)) -> dict[str, Any]:
    """Products similar to this one (content similarity reaches products nobody bought yet)."""
    return {"product_id": product_id, "items": st.recs.similar(product_id, k)}
