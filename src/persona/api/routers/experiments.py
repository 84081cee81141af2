"""Experiments over HTTP: the stored experiments and their analysed results."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path, Query

from persona.api.deps import AppState, require, state
from persona.jsonvalues import plain, utc_iso

router = APIRouter(prefix="/v1/experiments", tags=["experiments"])


@router.get("", dependencies=[Depends(require("read"))])
def list_experiments(st: AppState = Depends(state)) -> list[dict[str, Any]]:
    """Stored experiments with their arms and exposure counts."""
    df = st.store.read_frame("SELECT name, variants, holdout, status, created_at FROM experiments ORDER BY name")
    counts = st.store.read_frame("SELECT experiment, COUNT(*) AS n FROM assignments GROUP BY experiment")
    n = dict(zip(counts["experiment"], counts["n"], strict=True))
    return [plain({"name": r.name, "variants": r.variants, "holdout": r.holdout, "status": r.status,
                    "created_at": utc_iso(r.created_at), "exposures": int(n.get(r.name, 0))}) for r in df.itertuples()]


@router.get("/{name}/results", dependencies=[Depends(require("read"))])
def results(
    name: str = Path(..., max_length=128),
    window_days: float = Query(14.0, gt=0, le=365),
    st: AppState = Depends(state),
) -> dict[str, Any]:
    """Per-arm conversion and revenue with intervals, tests, the sample-ratio check and verdicts."""
    from persona.experiments.analysis import analyze_experiment

    res = analyze_experiment(st.store, name, window_days=window_days)
    return plain({"experiment": name, **res.to_dict()})


@router.get("/{name}/interleaving", dependencies=[Depends(require("read"))])
def interleaving(name: str = Path(..., max_length=128), st: AppState = Depends(state)) -> dict[str, Any]:
    """Live team-draft interleaving: impressions, wins per ranker, preference with interval, sign test, verdict."""
    from persona.experiments.live_interleaving import analyze_live_interleaving

    return plain({"experiment": name, **analyze_live_interleaving(st.store, name).to_dict()})
