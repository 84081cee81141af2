"""``persona segments build|list|show``: RFM, k-means and DBSCAN segments, explained."""

from __future__ import annotations

from typing import Annotated

import typer

from persona.cli._common import JsonOpt, WorkspaceOpt, emit
from persona.cli.profiles import busy, open_workspace_store

app = typer.Typer(help="Customer segments: build (rfm, kmeans, dbscan), list, show with explanations.", no_args_is_help=True)


@app.command("build")
def build(
    method: Annotated[str, typer.Option("--method", "-m", help="rfm, kmeans or dbscan.")] = "rfm",
    k: Annotated[int | None, typer.Option("--k", help="k-means: fixed number of segments (default: chosen by silhouette).")] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Segment the stored profiles and store segments, memberships and their explanations."""
    from persona.errors import InputError
    from persona.profiles import read_profiles
    from persona.segments.service import METHODS, previous_centroids, save_segmentation, segment_profiles

    if method not in METHODS:
        raise InputError(f"unknown segmentation method {method!r}", hint=f"use one of {', '.join(METHODS)}")
    if k is not None and method != "kmeans":
        raise InputError(f"--k applies to kmeans only, got --method {method}", hint="drop --k or use --method kmeans")
    store = open_workspace_store(workspace)
    try:
        profiles = read_profiles(store)
        if profiles.empty:
            raise InputError("no profiles stored", hint="run `persona profiles build` first")
        extra = {"k": k} if k is not None else {}
        prev = previous_centroids(store) if method == "kmeans" else None
        with busy(f"segmenting {len(profiles):,} customers ({method})…", as_json, store.settings):
            result = segment_profiles(profiles, method, seed=store.settings.seed, previous=prev, **extra)
        save_segmentation(store, result)
    finally:
        store.dispose()
    params = {key: v for key, v in result.params.items() if key != "centroids"}
    if as_json:
        emit({"method": method, "customers": len(result.labels), "params": params, "seconds": result.seconds,
              "segments": result.summary()}, True)
        return
    emit(result.summary(), False, title=f"{method} segments of {len(result.labels):,} customers",
         columns=["segment_id", "name", "size", "share", "revenue_share", "rule"])


@app.command("list")
def list_(
    method: Annotated[str | None, typer.Option("--method", "-m", help="Only this method.")] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List stored segments (id is method:segment_id)."""
    from persona.segments import list_segments

    store = open_workspace_store(workspace)
    try:
        rows = list_segments(store, method)
    finally:
        store.dispose()
    emit(rows, as_json, title="segments", columns=["id", "name", "size", "share", "revenue_share"])


@app.command("show")
def show(
    segment: Annotated[str, typer.Argument(help="Segment id: method:segment_id (e.g. rfm:champions) or an unambiguous segment id.")],
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show one segment: size, revenue share, surrogate-tree rule and distinguishing features."""
    from persona.segments import get_segment

    store = open_workspace_store(workspace)
    try:
        seg = get_segment(store, segment)
    finally:
        store.dispose()
    if as_json:
        emit(seg, True)
        return
    rule = seg.get("rule") or {}
    emit({"id": seg["id"], "name": seg["name"], "size": seg["size"], "share": seg.get("share"), "revenue_share": seg.get("revenue_share"),
          "rule": f"{rule.get('rule', '')} (precision {rule.get('precision')}, recall {rule.get('recall')})",
          **{f"differs {i + 1}": d["text"] for i, d in enumerate(seg.get("distinguishing", []))}, "summary": seg.get("summary")},
         False, title=f"segment {seg['id']}")
