"""``persona basket rules`` and ``persona basket together``: association rules on the workspace's orders."""

from __future__ import annotations

from typing import Annotated

import typer

from persona.cli._common import JsonOpt, WorkspaceOpt, console, emit
from persona.errors import InputError, NotFoundError

app = typer.Typer(help="Market-basket analysis: frequent itemsets and association rules on purchase orders.", no_args_is_help=True)
BY_VALUES = ("session", "day")
ByOpt = Annotated[str, typer.Option("--by", help="Order = customer+session (else customer+day), or customer+day.")]


def _fit(workspace: object, min_support: float, min_confidence: float, min_lift: float | None, by: str, max_len: int | None,
         anchor: str | None = None) -> object:
    """Basket rules mined on the workspace's orders; ``anchor``, when given, must be one of its products."""
    from persona.basket import BasketRules
    from persona.cli.profiles import open_workspace_store
    from persona.engines import open_baskets

    store = open_workspace_store(workspace)  # type: ignore[arg-type]
    try:
        if anchor is not None and store.read_frame("SELECT 1 AS x FROM products WHERE product_id = :p", {"p": anchor}).empty:
            raise NotFoundError(f"product {anchor!r} is not in this workspace", hint="check the id")
        engine = store.settings.engine
        baskets = open_baskets(store, by=by)
        return BasketRules(min_support=min_support, min_confidence=min_confidence, min_lift=min_lift, max_len=max_len,
                           engine=engine).fit(baskets)
    finally:
        store.dispose()


def _check_by(by: str) -> None:
    """Refuse an unknown --by before any work."""
    if by not in BY_VALUES:
        raise InputError(f"--by {by!r} is not a basket grouping: use {' or '.join(BY_VALUES)}",
                         hint="--by session groups purchases by session, or by day where there is none; --by day by day")


def _records(frame: object) -> list[dict[str, object]]:
    rows = frame.to_dict(orient="records")  # type: ignore[attr-defined]
    for r in rows:
        for k in ("antecedents", "consequents"):
            if k in r:
                r[k] = sorted(map(str, r[k]))
    return rows


@app.command("rules")
def rules(
    min_support: Annotated[float, typer.Option("--min-support", help="Itemset support threshold (share of orders).", min=0.0, max=1.0)] = 0.01,
    min_confidence: Annotated[float, typer.Option("--min-confidence", help="Rule confidence threshold.", min=0.0, max=1.0)] = 0.2,
    min_lift: Annotated[float | None, typer.Option("--min-lift", help="Rule lift threshold.")] = None,
    top: Annotated[int, typer.Option("--top", help="Best rules to print (by --sort).", min=1)] = 20,
    sort: Annotated[str, typer.Option("--sort", help="lift, confidence, support, leverage or conviction.")] = "lift",
    max_len: Annotated[int | None, typer.Option("--max-len", help="Longest itemset.", min=2)] = None,
    by: ByOpt = "session",
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Frequent itemsets (bitset Eclat) and the top association rules with support, confidence, lift, leverage, conviction."""
    from persona.basket.rules import SORT_KEYS, count_rules, rules_frame, top_rules

    if sort not in SORT_KEYS:
        raise InputError(f"--sort {sort!r} is not a rule metric: use one of {', '.join(SORT_KEYS)}",
                         hint="e.g. --sort lift")
    _check_by(by)
    model = _fit(workspace, min_support, min_confidence, min_lift, by, max_len)
    fi = model.itemsets_  # type: ignore[attr-defined]
    best = rules_frame(fi, top_rules(fi, top, by=sort, min_confidence=min_confidence, min_lift=min_lift))
    rep = {"orders": fi.n_transactions, "min_support": min_support, "min_count": fi.min_count, "itemsets": len(fi),
           "rules": count_rules(fi, min_confidence=min_confidence, min_lift=min_lift), "engine": model.engine,  # type: ignore[attr-defined]
           "top": _records(best)}
    if as_json:
        emit(rep, True)
        return
    emit({k: v for k, v in rep.items() if k != "top"}, False, title="basket rules")
    emit(rep["top"], False, title=f"top {top} rules by {sort}",
         columns=["antecedents", "consequents", "support", "confidence", "lift", "leverage", "conviction"])


@app.command("together")
def together(
    product_id: Annotated[str, typer.Argument(help="The anchor product id.")],
    k: Annotated[int, typer.Option("--k", help="How many products.", min=1)] = 5,
    min_support: Annotated[float, typer.Option("--min-support", help="Pair support threshold.", min=0.0, max=1.0)] = 0.001,
    by: ByOpt = "session",
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Products frequently bought together with PRODUCT_ID (pair rules, best lift first)."""
    _check_by(by)
    model = _fit(workspace, min_support, 0.0, None, by, 2, anchor=product_id)
    rows = model.frequently_bought_together(product_id, k).to_dict(orient="records")  # type: ignore[attr-defined]
    emit(rows, as_json, title=f"bought together with {product_id}")
    if not rows and not as_json:
        console.print(f"{product_id} is not bought together with another product often enough for a rule at "
                      f"--min-support {min_support} (try a lower one)", markup=False, highlight=False)
