"""``persona recommend train|for|similar|versions|promote|rollback``: train, register and use a recommender."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from persona.cli._common import JsonOpt, WorkspaceOpt, console, emit, model_progress
from persona.cli.profiles import open_workspace_store
from persona.errors import NotFoundError

app = typer.Typer(help="Recommendations: train (compare, pick, register), for a customer, similar products.",
                  no_args_is_help=True)
KOpt = Annotated[int, typer.Option("-k", "--k", help="Number of products.", min=1, max=1000)]
MODEL_NAME = "recommender"


@app.command("train")
def train(
    model: Annotated[list[str] | None, typer.Option("--model", "-m", help="Model(s) to compare (repeatable); default: popular, itemknn, als, ease, category, hybrid (those the data allows).")] = None,
    split: Annotated[str, typer.Option("--split", help="Holdout: temporal (latest 20% per customer), random, stratified, or global (the latest 20% of all events).")] = "temporal",
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Compare recommenders on held-out events, refit the best on everything and register it as active."""
    from persona.data import Interactions
    from persona.errors import InputError
    from persona.evaluate.selection import DEFAULT_MODELS, SPLITS, applicable_models, train_and_register
    from persona.recommend.hybrid import blend_line, blend_summary

    if split not in SPLITS:
        raise InputError(f"unknown split {split!r}", hint=f"use one of {', '.join(SPLITS)}")
    store = open_workspace_store(workspace)
    try:
        data = Interactions.from_store(store)
        if data.nnz == 0:
            raise InputError("the workspace has no events that name a product",
                             hint="ingest events first: `persona ingest events FILE` (or `persona demo generate`)")
        skipped: dict[str, str] = {}
        if model:
            names = [n.strip() for m in model for n in m.split(",") if n.strip()]
        else:
            names, skipped = applicable_models(DEFAULT_MODELS, data)
        with model_progress(len(names), as_json=as_json, bar=store.settings.progress, lines=console,
                            then="refitting the best model on every event") as on_result:
            fitted, cmp, mv = train_and_register(store, data, names, split=split, seed=store.settings.seed,
                                                 on_result=on_result)
    finally:
        store.dispose()
    with_repeats = bool(mv.params.get("served_with_repeats"))
    out = {"best": cmp.best.name, "model": MODEL_NAME, "version": mv.version, "split": split,
           "test_pairs": len(cmp.test), "comparison": cmp.table(), "skipped": skipped,
           "repeat_share": round(cmp.repeat_share, 4), "served_with_repeats": with_repeats,
           "engine": mv.params.get("engine", "local")}
    blend = blend_summary(fitted)
    if blend is not None:
        out["blend"] = blend
    if as_json:
        emit(out, True)
        return
    emit(cmp.table(), False, title=f"{split} holdout ({len(cmp.test):,} customer-product pairs), top-10",
         columns=["model", "ndcg@10", "recall@10", "precision@10", "map@10", "coverage", "fit_s", "recommend_s"])
    for name, why in skipped.items():
        console.print(f"[dim]left out {name}: {why}[/dim]")
    console.print(f"registered [bold]{cmp.best.name}[/bold] as {MODEL_NAME} v{mv.version} (active)")
    if blend is not None:
        console.print(blend_line(blend))
    if with_repeats:
        console.print(f"{cmp.repeat_share:.0%} of what customers turned to next they had already touched: "
                      "`--include-seen` lists rank those products by their learned comeback chance")


def _load_model(store: Any) -> Any:
    from persona.registry import load

    try:
        return load(store, MODEL_NAME)
    except NotFoundError as exc:
        raise NotFoundError("no recommender is trained in this workspace",
                            hint="run `persona recommend train` first") from exc


def _exists(store: Any, table: str, column: str, value: str) -> bool:
    return not store.read_frame(f"SELECT 1 AS x FROM {table} WHERE {column} = :v", {"v": value}).empty  # noqa: S608


@app.command("for")
def for_customer(
    customer_id: Annotated[str, typer.Argument(help="The customer's id.")],
    k: KOpt = 10,
    include_seen: Annotated[bool, typer.Option("--include-seen", help="Products the customer viewed before may come back (those they bought stay out); with the repeat model they are ranked against new ones.")] = False,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Top-k products for one customer, with the reason for each (a customer with no history gets cold start)."""
    store = open_workspace_store(workspace)
    try:
        if not _exists(store, "customers", "customer_id", customer_id):
            raise NotFoundError(f"customer {customer_id!r} is not in this workspace",
                                hint="check the id, or ingest the customer first")
        model = _load_model(store)
        recs = (model.recommend([customer_id], k=k, exclude_seen=False, filters={"exclude_purchased": True})
                if include_seen else model.recommend([customer_id], k=k))
        titles = {} if as_json else _titles(store, recs["item_id"].astype(str).tolist())
    finally:
        store.dispose()
    rows = recs.drop(columns=["user_id"]).to_dict(orient="records")
    if as_json:
        emit({"customer_id": customer_id, "recommendations": rows}, True)
        return
    rows = [{**r, "product": titles.get(str(r["item_id"]), "")} for r in rows]
    emit(rows, False, title=f"top {k} for {customer_id}", columns=["rank", "item_id", "product", "score", "reason"])


def _titles(store: Any, product_ids: list[str]) -> dict[str, str]:
    """The titles of ``product_ids`` (those that have one), for the tables people read."""
    if not product_ids:
        return {}
    marks = ", ".join(f":p{i}" for i in range(len(product_ids)))
    df = store.read_frame(f"SELECT product_id, title FROM products WHERE product_id IN ({marks})",  # noqa: S608
                          {f"p{i}": p for i, p in enumerate(product_ids)})
    return {str(p): str(t) for p, t in zip(df["product_id"], df["title"], strict=True) if t is not None and t == t}


@app.command("similar")
def similar(
    product_id: Annotated[str, typer.Argument(help="The product's id.")],
    k: KOpt = 10,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Products similar to one product (by content when the product has no interactions yet)."""
    store = open_workspace_store(workspace)
    try:
        if not _exists(store, "products", "product_id", product_id):
            raise NotFoundError(f"product {product_id!r} is not in this workspace", hint="check the id")
        model = _load_model(store)
        out = model.similar_items([product_id], k=k)
        basis = "interactions"
        if out.empty:  # a new product: reachable through content similarity
            from persona.data import Interactions
            from persona.recommend import make_recommender

            out = make_recommender("content").fit(Interactions.from_store(store)).similar_items([product_id], k=k)
            basis = "content"
        titles = {} if as_json else _titles(store, out["similar_item_id"].astype(str).tolist())
    finally:
        store.dispose()
    rows = out.drop(columns=["item_id"]).to_dict(orient="records")
    if as_json:
        emit({"product_id": product_id, "basis": basis, "similar": rows}, True)
        return
    rows = [{**r, "product": titles.get(str(r["similar_item_id"]), "")} for r in rows]
    emit(rows, False, title=f"similar to {product_id} (by {basis})",
         columns=["rank", "similar_item_id", "product", "score", "reason"])


@app.command("versions")
def versions(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Registered versions of the recommender: algorithm, status, nDCG@10, when trained."""
    from persona.registry import list_models

    store = open_workspace_store(workspace)
    try:
        rows = [{"version": m.version, "status": m.status, "algorithm": m.params.get("algorithm"),
                 "ndcg@10": m.metrics.get("ndcg@10"), "recall@10": m.metrics.get("recall@10"),
                 "created_at": m.created_at} for m in list_models(store, MODEL_NAME)]
    finally:
        store.dispose()
    emit(rows, as_json, title=f"{MODEL_NAME} versions")


@app.command("promote")
def promote_version(
    version: Annotated[int, typer.Argument(help="Version to make active.", min=1)],
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Make a registered version the active recommender (the one campaigns and the API use)."""
    from persona.registry import promote

    store = open_workspace_store(workspace)
    try:
        mv = promote(store, MODEL_NAME, version)
    finally:
        store.dispose()
    emit(mv.to_dict(), as_json, title=f"{MODEL_NAME} v{mv.version} is active")


@app.command("rollback")
def rollback_version(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Re-activate the recommender version that was active before the current one."""
    from persona.registry import rollback

    store = open_workspace_store(workspace)
    try:
        mv = rollback(store, MODEL_NAME)
    finally:
        store.dispose()
    emit(mv.to_dict(), as_json, title=f"rolled back: {MODEL_NAME} v{mv.version} is active")
