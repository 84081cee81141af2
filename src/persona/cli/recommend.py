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
    in_stock: Annotated[bool, typer.Option("--in-stock", help="Only products in stock (unknown stock counts as in stock).")] = False,
    category: Annotated[list[str] | None, typer.Option("--category", help="Only products in this category (repeatable; 'Books' also matches 'Books > Fiction').")] = None,
    not_category: Annotated[list[str] | None, typer.Option("--not-category", help="Never products in this category (repeatable).")] = None,
    min_price: Annotated[float | None, typer.Option("--min-price", help="Only products priced at least this.", min=0)] = None,
    max_price: Annotated[float | None, typer.Option("--max-price", help="Only products priced at most this.", min=0)] = None,
    block: Annotated[list[str] | None, typer.Option("--block", help="Never this product id (repeatable).")] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Top-k products for one customer, with the reason for each (a customer with no history gets cold start)."""
    from dataclasses import replace

    from persona.recommend.coldstart import new_customer_features
    from persona.recommend.rules import Filters

    filters = Filters(in_stock_only=in_stock, categories_include=category or None, categories_exclude=not_category or None,
                      price_min=min_price, price_max=max_price, blocklist=block or None)
    store = open_workspace_store(workspace)
    try:
        found = store.read_frame("SELECT erased_at FROM customers WHERE customer_id = :v", {"v": customer_id})
        if found.empty:
            raise NotFoundError(f"customer {customer_id!r} is not in this workspace",
                                hint="check the id, or ingest the customer first")
        if found["erased_at"].notna().any():  # as the JSON API: an erased customer is no one's to serve
            raise NotFoundError(f"customer {customer_id!r} was erased (their data is gone): nothing is served for them",
                                hint="a customer who comes back is ingested again as a new one")
        model = _load_model(store)
        features = new_customer_features(store, model, [customer_id])
        recs = (model.recommend([customer_id], k=k, exclude_seen=False, user_features=features,
                                filters=replace(filters, exclude_purchased=True))
                if include_seen else model.recommend([customer_id], k=k, filters=filters, user_features=features))
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
        if len(out) < k:  # a new product (or one with few neighbours): reached, or filled up, through its content
            out, basis = _filled_by_content(store, out, product_id, k)
        if out.empty:
            raise NotFoundError(f"nothing is similar to {product_id!r} yet: no customer has had it, and it has no title, "
                                "description or category to compare", hint="ingest its catalogue text, or wait for "
                                "interactions and run `persona recommend train`")
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


def _filled_by_content(store: Any, out: Any, product_id: str, k: int) -> tuple[Any, str]:
    """``out`` (the served model's similar products) followed by the products most similar to ``product_id`` by
    catalogue text, up to ``k`` rows, and the basis of the whole list: interactions, content, or both."""
    import pandas as pd

    from persona.data import Interactions
    from persona.recommend import make_recommender

    content = make_recommender("content").fit(Interactions.from_store(store)).similar_items([product_id], k=k + len(out))
    content = content[~content["similar_item_id"].isin(set(out["similar_item_id"]))].head(k - len(out))
    if content.empty:
        return out, "interactions"
    if out.empty:
        return content, "content"
    both = pd.concat([out, content], ignore_index=True)
    both["rank"] = range(1, len(both) + 1)
    return both, "interactions, then content"


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
