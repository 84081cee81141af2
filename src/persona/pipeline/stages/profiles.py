"""Stages ``profiles`` (customer features + fused embedding) and ``segments`` (RFM and k-means, explained)."""

from __future__ import annotations

import html
import logging
from typing import Any

from persona.pipeline.stage import RunContext, Section, Stage, StageResult

log = logging.getLogger(__name__)


def table_html(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """A small escaped HTML table."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = []
    for r in rows:
        cells = []
        for c in columns:
            v = r.get(c)
            cells.append(f"<td>{html.escape(f'{v:.4g}' if isinstance(v, float) else ('' if v is None else str(v)))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def run_profiles(ctx: RunContext) -> StageResult:
    """Build every profile (full rebuild in a run) and keep shop frames and profiles for later stages."""
    from persona.profiles import build_and_store, load_shop, read_profiles

    data = load_shop(ctx.store)
    if data.last_event_ts is None:
        return StageResult(status="skipped", message="no events: nothing to profile")
    ctx.artifacts["shop_data"] = data
    if ctx.store.settings.engine == "spark":  # the features' passes over the events run on Spark
        from persona.engines import open_shop

        data = open_shop(ctx.store, loaded=data)
        ctx.artifacts["engine_shop"] = data  # later stages (predict) reuse the Spark frames
    out = build_and_store(ctx.store, full=True, recommender=ctx.artifacts.get("recommender"), seed=ctx.seed, data=data)
    profiles = read_profiles(ctx.store)
    ctx.artifacts["profiles"] = profiles
    buyers = int((profiles["frequency"] > 0).sum())
    cols = ["frequency", "monetary", "avg_order_value", "recency_days", "tenure_days", "mean_interpurchase_days", "discount_share",
            "price_index", "email_open_rate", "avg_sentiment", "age"]
    desc = profiles[[c for c in cols if c in profiles]].apply(lambda s: s.astype(float)).describe().T.reset_index()
    desc = desc.rename(columns={"index": "feature", "50%": "median"})
    rows = desc[["feature", "count", "mean", "median", "max"]].to_dict(orient="records")
    kind = out["embedding"]
    emb_text = (
        "the recommender's user factors x plus α·y, the mean factors of the items each customer touched"
        if kind == "recommender"
        else "the customer's standardized own features x plus α·y, the mean category/brand/price vector of the items they touched, projected by PCA"
    )
    section = Section(
        title="Customer profiles",
        html=(f"<p>{out['profiles']:,} profiles ({buyers:,} customers have bought; features computed by the "
              f"{html.escape(out['engine'])} engine). Embedding z = x + α·y with α = {out['alpha']}: "
              f"{html.escape(emb_text)}.</p>" + table_html(rows, ["feature", "count", "mean", "median", "max"])),
    )
    return StageResult(figures={"profiles": out["profiles"], "buyers": buyers, "embedding": kind, "mode": out["mode"],
                                "engine": out["engine"]}, sections=[section])


def run_segments(ctx: RunContext) -> StageResult:
    """RFM and k-means segments (DBSCAN too when ``ctx.artifacts['segment_methods']`` asks), stored and plotted."""
    from persona.errors import InputError
    from persona.profiles import read_profiles
    from persona.segments.plots import segment_figure
    from persona.segments.service import previous_centroids, save_segmentation, segment_profiles

    profiles = ctx.artifacts.get("profiles")
    if profiles is None:
        profiles = read_profiles(ctx.store)
    if profiles is None or len(profiles) == 0:
        return StageResult(status="skipped", message="no profiles")
    methods = ctx.artifacts.get("segment_methods") or ("rfm", "kmeans")
    figures: dict[str, Any] = {}
    sections = []
    results = {}
    skipped: dict[str, str] = {}
    for method in methods:
        prev = previous_centroids(ctx.store) if method == "kmeans" else None
        try:
            res = segment_profiles(profiles, method, seed=ctx.seed, previous=prev)
        except InputError as exc:  # e.g. RFM on a ratings log without purchases: the other methods still run
            skipped[method] = str(exc)
            continue
        save_segmentation(ctx.store, res)
        results[method] = res
        summary = res.summary()
        figures[method] = {"segments": len(summary), "seconds": res.seconds,
                           **{k: v for k, v in res.params.items() if k in ("k", "eps", "clusters")}}
        params = {k: v for k, v in res.params.items() if k != "centroids"}
        intro = {
            "rfm": "Quintile scores of recency, frequency and monetary value among buyers, mapped to the usual business names.",
            "kmeans": f"k-means on standardized profile features; k = {params.get('k')} chosen by silhouette over 2..10 "
                      f"({html.escape(str(params.get('silhouette')))}); ids kept stable across runs by Hungarian matching of centroids.",
            "dbscan": f"DBSCAN with eps = {params.get('eps')} at the knee of the k-distance curve; points far from every core point are outliers.",
        }[method]
        rows = [{**r, "rule": r["rule"], "summary": r["summary"].split(": ", 1)[-1]} for r in summary]
        sec = Section(
            title=f"Segments ({method})",
            html=f"<p>{intro}</p>" + table_html(rows, ["segment_id", "name", "size", "share", "revenue_share", "rule", "summary"]),
        )
        sec.add_figure(segment_figure(res.matrix, res.labels, res.explanation, title=method, seed=ctx.seed))
        sections.append(sec)
    why = "; ".join(f"{m} not built: {msg}" for m, msg in skipped.items())
    if not results:
        return StageResult(status="skipped", message=why)
    ctx.artifacts["segments"] = {m: r.labels for m, r in results.items()}
    if skipped:
        figures["skipped"] = skipped
    return StageResult(figures=figures, sections=sections, message=why)


PROFILES = Stage(name="profiles", title="Customer profiles", run=run_profiles, requires=("ingest",))
SEGMENTS = Stage(name="segments", title="Customer segments", run=run_segments, requires=("profiles",))
