"""Stage ``basket``: association rules on the workspace's orders, and "frequently bought together"."""

from __future__ import annotations

import html
from typing import Any

from persona.pipeline.stage import RunContext, Section, Stage, StageResult
from persona.pipeline.stages.profiles import table_html

#: support thresholds tried in order until enough rules appear (orders in a shop are sparse)
SUPPORTS = (0.01, 0.005, 0.002, 0.001)


def run(ctx: RunContext) -> StageResult:
    """Mine itemsets at the highest support that yields rules; report the top rules by lift."""
    from persona.basket import BasketRules
    from persona.basket.rules import count_rules, rules_frame, top_rules
    from persona.engines import count_orders, open_baskets

    engine = ctx.store.settings.engine
    baskets = open_baskets(ctx.store)
    n_orders, multi = count_orders(baskets)
    if not n_orders or multi == 0:
        return StageResult(status="skipped", message="no orders with more than one product")
    model: Any = None
    n_rules = 0
    for sup in SUPPORTS:
        model = BasketRules(min_support=sup, min_confidence=0.05, max_len=4, engine=engine).fit(baskets)
        n_rules = count_rules(model.itemsets_, min_confidence=0.05)
        if n_rules >= 20:
            break
    fi = model.itemsets_
    best = rules_frame(fi, top_rules(fi, 15, by="lift", min_confidence=0.05)) if n_rules else None
    rows = []
    if best is not None:
        for r in best.to_dict(orient="records"):
            rows.append({"if bought": ", ".join(sorted(map(str, r["antecedents"]))), "then also": ", ".join(sorted(map(str, r["consequents"]))),
                         "support": r["support"], "confidence": r["confidence"], "lift": r["lift"]})
    sec = Section(
        title="Basket rules (frequently bought together)",
        html=(f"<p>{fi.n_transactions:,} orders (purchase events grouped by customer and session, else by customer and day; "
              f"mined by the {html.escape(engine)} engine), "
              f"{multi:,} with two or more products. At min support {model.min_support} ({fi.min_count} orders) there are "
              f"{len(fi):,} frequent itemsets and {n_rules:,} rules with confidence ≥ 0.05.</p>"
              + (table_html(rows, list(rows[0])) if rows else "<p>No rules at the lowest support tried.</p>")),
    )
    ctx.artifacts["basket_rules"] = model
    from persona.registry import register

    register(ctx.store, "basket_rules", "basket", model, params={"min_support": model.min_support, "min_confidence": 0.05},
             metrics={"itemsets": len(fi), "rules": n_rules}, activate=True)
    return StageResult(
        figures={"orders": fi.n_transactions, "multi_item_orders": multi, "min_support": model.min_support, "itemsets": len(fi), "rules": n_rules,
                 "top_lift": float(rows[0]["lift"]) if rows else None, "engine": engine},
        sections=[sec],
        message=html.escape(f"{n_rules} rules"),
    )


BASKET = Stage(name="basket", title="Basket rules", run=run)
