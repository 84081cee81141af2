"""Recommendations for a customer and similar products, from the served model."""

from __future__ import annotations

import json
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from persona.api.deps import AppState, require, state
from persona.api.service import INCLUDE_SEEN
from persona.errors import InputError, NotFoundError

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


class Item(BaseModel):
    product_id: str
    score: float
    rank: int
    reason: str
    team: str | None = None  # interleaving: which ranker ("A" or "B") drafted the item


class Recommendations(BaseModel):
    customer_id: str
    model: str | None
    version: int | None
    items: list[Item]
    experiment: str | None = None
    variant: str | None = None
    impression_id: str | None = None


def _json(body: dict[str, Any]) -> Response:
    return Response(orjson.dumps(body), media_type="application/json")


@router.get("/recommendations/{customer_id}", dependencies=[Depends(require("read"))], response_model=Recommendations)
async def recommendations(
    customer_id: str,
    k: int = Query(10, ge=1, le=100),
    filters: str | None = Query(None, max_length=2000, description="JSON object, e.g. {\"in_stock_only\": true}"),
    include_seen: bool = Query(False, description="Products the customer viewed before may come back (bought ones stay "
                               "out); with the repeat model they are ranked against new ones by the customer's current "
                               "events: one posted since the last training counts at once (fold-in)."),
    experiment: str | None = Query(None, max_length=128, description="A stored experiment whose variants name models "
                                   "(`NAME` or `NAME@VERSION`); the customer is assigned deterministically and the "
                                   "exposure logged."),
    interleave: str | None = Query(None, max_length=300, pattern=r"^[^,]+,[^,]+,[^,]+$",
                                   description="EXPERIMENT,MODEL_A,MODEL_B (models as NAME or NAME@VERSION): a team-draft "
                                   "interleaved list; each item says which model drafted it, the impression is logged and later "
                                   "clicks are credited (GET /v1/experiments/{EXPERIMENT}/interleaving)."),
    st: AppState = Depends(state),
) -> dict[str, Any]:
    """Top-k products for the customer, each with a reason (new customers get cold-start picks)."""
    flt = _filters(filters)
    if include_seen:
        flt = {**(flt or {}), INCLUDE_SEEN: True}
    if interleave:
        return _json(await run_in_threadpool(_interleaved, st, customer_id, k, flt, interleave))
    if experiment:
        return _json(await run_in_threadpool(_with_experiment, st, customer_id, k, flt, experiment))
    items = None if flt else st.recs.cached(customer_id, k)  # the hot path: no thread hop, no model call
    if items is None:
        items = await run_in_threadpool(st.recs.recommend, customer_id, k, flt)
    return _json({"customer_id": customer_id, "model": st.recs.model_name, "version": st.recs.model_version, "items": items})


def _with_experiment(st: AppState, customer_id: str, k: int, filters: dict[str, Any] | None, name: str) -> dict[str, Any]:
    """Serve the variant's model: a variant named after a registered model serves it, any other the active one."""
    from persona.experiments.assignment import HOLDOUT_VARIANT, assign, load_experiment, log_exposure
    from persona.registry import get_version

    spec = load_experiment(st.store, name)
    variant = str(assign(spec, [customer_id]).iloc[0])
    model = None
    if variant != HOLDOUT_VARIANT:
        try:
            get_version(st.store, variant.partition("@")[0])
            model = st.recs.variant_model(variant)
        except NotFoundError:
            model = None  # e.g. "control": the active model
    exposed = st.exposed.setdefault(name, set())
    if customer_id not in exposed:
        log_exposure(st.store, spec, {customer_id: variant})
        exposed.add(customer_id)
    items = st.recs.recommend(customer_id, k, filters, model=model)
    name_, version = (model[1], model[2]) if model else (st.recs.model_name, st.recs.model_version)
    return {"customer_id": customer_id, "model": name_, "version": version, "items": items,
            "experiment": name, "variant": variant}


def _interleaved(st: AppState, customer_id: str, k: int, filters: dict[str, Any] | None, spec: str) -> dict[str, Any]:
    from persona.experiments.interleaving import team_draft
    from persona.experiments.live_interleaving import log_impression

    name, model_a, model_b = (p.strip() for p in spec.split(","))
    ma, mb = st.recs.variant_model(model_a), st.recs.variant_model(model_b)
    la = st.recs.recommend(customer_id, k, filters, model=ma)
    lb = st.recs.recommend(customer_id, k, filters, model=mb)
    shown = team_draft([i["product_id"] for i in la], [i["product_id"] for i in lb], k=k, seed=f"{name}:{customer_id}")
    impression = log_impression(st.store, name, customer_id, shown, names=(f"{ma[1]}@{ma[2]}", f"{mb[1]}@{mb[2]}"))
    info = {i["product_id"]: i for i in lb} | {i["product_id"]: i for i in la}
    items = [{**info[p], "rank": r, "team": t} for r, (p, t) in enumerate(zip(shown.items, shown.teams, strict=True), start=1)]
    return {"customer_id": customer_id, "model": None, "version": None, "items": items, "experiment": name,
            "variant": "interleaved", "impression_id": impression}


@router.get("/products/{product_id}/similar", dependencies=[Depends(require("read"))])
def similar(product_id: str, k: int = Query(10, ge=1, le=100), st: AppState = Depends(state)) -> dict[str, Any]:
    """Products similar to this one (content similarity reaches products nobody bought yet)."""
    return {"product_id": product_id, "items": st.recs.similar(product_id, k)}
