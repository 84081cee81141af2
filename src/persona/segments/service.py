"""Segmenting profiles end to end: fit a method, explain its segments, store segments and memberships."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import delete, insert, select
from threadpoolctl import threadpool_limits

from persona.errors import InputError, NotFoundError
from persona.privacy.tombstones import live_rows
from persona.segments.dbscan import DBSCANSegmenter
from persona.segments.explain import explain_segments
from persona.segments.kmeans import KMeansSegmenter
from persona.segments.matrix import FeatureMatrix
from persona.segments.rfm import RFMSegmenter
from persona.store import Store
from persona.store.models import Segment, SegmentMembership

log = logging.getLogger(__name__)
METHODS = ("rfm", "kmeans", "dbscan")


@dataclass
class Segmentation:
    """The outcome of one segmentation: ids per customer, explanations, parameters and timings."""

    method: str
    labels: pd.Series
    explanation: dict[str, dict[str, Any]]
    params: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    matrix: np.ndarray | None = None

    def summary(self) -> list[dict[str, Any]]:
        """One row per segment, largest first (for tables and ``--json``)."""
        rows = [
            {"segment_id": sid, "name": e["name"], "size": e["size"], "share": e["share"], "revenue_share": e["revenue_share"],
             "rule": e.get("rule", {}).get("rule", ""), "summary": e["summary"]}
            for sid, e in self.explanation.items()
        ]
        return sorted(rows, key=lambda r: -r["size"])


def make_segmenter(method: str, *, seed: int = 42, previous: dict[str, dict[str, float]] | None = None, **kw: Any) -> Any:
    """The segmenter for ``method``.

    Raises:
        InputError: unknown method.
    """
    if method == "rfm":
        return RFMSegmenter()
    if method == "kmeans":
        return KMeansSegmenter(previous=previous, seed=seed, **kw)
    if method == "dbscan":
        return DBSCANSegmenter(seed=seed, **kw)
    raise InputError(f"unknown segmentation method {method!r}", hint=f"use one of {', '.join(METHODS)}")


def segment_profiles(
    profiles: pd.DataFrame,
    method: str,
    *,
    seed: int = 42,
    previous: dict[str, dict[str, float]] | None = None,
    explain: bool = True,
    n_threads: int | None = 1,
    **kw: Any,
) -> Segmentation:
    """Fit ``method`` on ``profiles`` (indexed by customer id) and explain every segment.

    Args:
        profiles: profile features, e.g. from :func:`persona.profiles.read_profiles`.
        method: ``rfm``, ``kmeans`` or ``dbscan``.
        previous: k-means centroids of the last run, to keep segment ids stable.
        explain: also compute the explanations (surrogate rules, distinguishing features).
        n_threads: OpenMP/BLAS threads (None: the libraries' default). One by default: k-means' spinning
            threads run up to 10× slower when other processes share the cores.
    """
    with threadpool_limits(limits=n_threads):
        return _segment(profiles, method, seed=seed, previous=previous, explain=explain, **kw)


def _segment(profiles: pd.DataFrame, method: str, *, seed: int, previous: dict[str, dict[str, float]] | None, explain: bool, **kw: Any) -> Segmentation:
    t0 = time.perf_counter()
    seg = make_segmenter(method, seed=seed, previous=previous, **kw)
    labels = seg.fit_predict(profiles).astype(str)
    t1 = time.perf_counter()
    matrix = seg.matrix_ if hasattr(seg, "matrix_") else FeatureMatrix().fit(profiles)
    raw = matrix.raw(profiles)
    logged = matrix.logged(raw)
    names = seg.segment_names() if method == "rfm" else None
    params: dict[str, Any] = {}
    if method == "kmeans":
        params = seg.params()
        params["centroids"] = seg.centroids()
    elif method == "dbscan":
        params = {"eps": round(seg.eps_, 4), "min_samples": seg.min_samples, "clusters": seg.n_clusters_, "sample_size": seg.sample_size}
    elif method == "rfm":
        params = {"edges": {k: [round(float(v), 4) for v in e] for k, e in seg.edges_.items()}}
    explanation: dict[str, dict[str, Any]] = {}
    if explain:
        explanation = explain_segments(raw, logged, labels, profiles.get("monetary", pd.Series(0.0, index=profiles.index)), names, seed=seed)
        if method == "dbscan" and "outliers" in explanation:
            explanation["outliers"]["name"] = "Outliers: " + explanation["outliers"]["name"]
    t2 = time.perf_counter()
    x = ((logged - matrix.mean_) / matrix.std_).to_numpy(dtype=np.float32)
    return Segmentation(method, labels, explanation, params, {"fit": round(t1 - t0, 3), "explain": round(t2 - t1, 3)}, x)


def previous_centroids(store: Store) -> dict[str, dict[str, float]]:
    """The stored k-means centroids of the last run (empty when none)."""
    with store.session() as s:
        rows = s.execute(select(Segment.segment_id, Segment.explanation).where(Segment.method == "kmeans")).all()
    return {sid: (e or {}).get("centroid") for sid, e in rows if (e or {}).get("centroid")}


def save_segmentation(store: Store, result: Segmentation) -> int:
    """Replace the method's segments and memberships in the store (one transaction); customers erased by then get no
    membership (:func:`persona.privacy.tombstones.live_rows`)."""
    now = datetime.now(UTC)
    cents = result.params.get("centroids", {})
    segs = []
    for sid, e in result.explanation.items():
        expl = dict(e)
        if sid in cents:
            expl["centroid"] = cents[sid]
        segs.append({"method": result.method, "segment_id": sid, "name": e["name"][:128], "size": e["size"], "explanation": expl, "updated_at": now})
    members = [{"customer_id": str(c), "method": result.method, "segment_id": str(s)} for c, s in result.labels.items()]
    with store.session() as s:
        members = live_rows(s, members)
        s.execute(delete(SegmentMembership).where(SegmentMembership.method == result.method))
        s.execute(delete(Segment).where(Segment.method == result.method))
        if segs:
            s.execute(insert(Segment), segs)
        for i in range(0, len(members), 10_000):
            s.execute(insert(SegmentMembership), members[i : i + 10_000])
    return len(segs)


def list_segments(store: Store, method: str | None = None) -> list[dict[str, Any]]:
    """Stored segments (all methods, or one), largest first within a method."""
    q = select(Segment)
    if method:
        if method not in METHODS:
            raise InputError(f"unknown segmentation method {method!r}", hint=f"use one of {', '.join(METHODS)}")
        q = q.where(Segment.method == method)
    with store.session() as s:
        rows = s.execute(q).scalars().all()
        out = [
            {"id": f"{r.method}:{r.segment_id}", "method": r.method, "segment_id": r.segment_id, "name": r.name, "size": r.size,
             "share": (r.explanation or {}).get("share"), "revenue_share": (r.explanation or {}).get("revenue_share"),
             "updated_at": r.updated_at}
            for r in rows
        ]
    return sorted(out, key=lambda r: (r["method"], -r["size"]))


def get_segment(store: Store, ident: str) -> dict[str, Any]:
    """One segment by ``method:segment_id`` (or a bare segment id when it is unambiguous).

    Raises:
        NotFoundError: no such segment, or the bare id is ambiguous.
    """
    method, _, sid = ident.partition(":") if ":" in ident else (None, "", ident)
    q = select(Segment).where(Segment.segment_id == sid)
    if method:
        q = q.where(Segment.method == method)
    with store.session() as s:
        rows = s.execute(q).scalars().all()
        if len(rows) != 1:
            known = [f"{m}:{i}" for m, i in s.execute(select(Segment.method, Segment.segment_id)).all()]
            what = "matches several segments" if rows else "is not a stored segment"
            hint = "run `persona segments build` first" if not known else f"use one of {', '.join(sorted(known)[:20])}"
            raise NotFoundError(f"segment {ident!r} {what}", hint=hint)
        r = rows[0]
        expl = dict(r.explanation or {})
        expl.pop("centroid", None)
        return {"id": f"{r.method}:{r.segment_id}", "method": r.method, "segment_id": r.segment_id, "name": r.name, "size": r.size,
                "updated_at": r.updated_at, **{k: v for k, v in expl.items() if k not in {"name", "size"}}}
