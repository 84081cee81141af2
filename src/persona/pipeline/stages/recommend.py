"""Stage ``recommend``: compare recommenders on a temporal holdout, register the best, keep it for later stages.

Builds :class:`~persona.data.Interactions` from the store, holds out each customer's latest 20% of
events, trains the fast default models (popular, itemknn, als, ease, hybrid), scores them, refits the
best (by nDCG@10) on all events, registers it as the active ``recommender`` model and puts it in
``ctx.artifacts["recommender"]`` (the Interactions in ``ctx.artifacts["interactions"]``).
"""

from __future__ import annotations

import html
import logging

from persona.pipeline.stage import RunContext, Section, Stage, StageResult

log = logging.getLogger(__name__)

NOTHING = "no events or reviews that name a product: nothing to recommend from"


def run(ctx: RunContext) -> StageResult:
    from persona.data import Interactions
    from persona.evaluate.report import comparison_figure, paired_html, table_html, timing_figure
    from persona.evaluate.selection import DEFAULT_MODELS, applicable_models, train_and_register
    from persona.recommend.hybrid import blend_line, blend_summary

    data = ctx.artifacts.get("interactions")
    if data is None:
        n = ctx.store.read_frame("SELECT COUNT(*) AS n FROM events WHERE product_id IS NOT NULL")["n"].iloc[0]
        if int(n) + ctx.store.count("reviews") == 0:
            return StageResult(status="skipped", message=NOTHING)
        data = Interactions.from_store(ctx.store)
        ctx.artifacts["interactions"] = data
    if data.nnz == 0:
        return StageResult(status="skipped", message=NOTHING)
    models = ctx.artifacts.get("recommend_models")
    skipped: dict[str, str] = {}
    if not models:
        models, skipped = applicable_models(DEFAULT_MODELS, data)
    split = "temporal" if data.has_time else "random"
    model, cmp, mv = train_and_register(ctx.store, data, models, split=split, seed=ctx.seed)
    ctx.artifacts["recommender"] = model
    ctx.artifacts["recommend_comparison"] = cmp  # per-customer accuracy of the best model feeds the fairness audit
    rows = cmp.table()
    best = cmp.best
    paired = cmp.versus_best(["ndcg@10", "recall@10"])
    section = Section(
        title="Recommendations: models compared on held-out events",
        html=(f"<p>{data.n_users:,} customers × {data.n_items:,} products, {len(data.log):,} events. "
              f"Each customer's latest 20% of events were held out ({len(cmp.test):,} customer-product pairs); "
              f"models were trained on the rest and asked for 10 products each. The best by nDCG@10, "
              f"<b>{html.escape(best.name)}</b>, was refitted on all events and registered as "
              f"<code>recommender</code> v{mv.version}.</p>" + table_html(rows) + paired_html(best.name, paired)
              + "".join(f"<p>Left out {html.escape(n)}: {html.escape(why)}.</p>" for n, why in skipped.items())),
    )
    lists = cmp.lists_summary(10)
    if lists:  # where the best model's lists differ from the runner-up's, and which is right there
        section.html += f"<p>Top-10 lists: {html.escape(lists['sentence'])}.</p>"
    blend = blend_summary(model)
    if blend is not None:  # what the registered hybrid blends, and what that adds on its own validation folds
        section.html += f"<p>{html.escape(blend_line(blend))}.</p>"
    # how much of what customers turned to next they had already touched (the comparison above leaves it out)
    repeat_share = cmp.repeat_share
    with_repeats = bool(mv.params.get("served_with_repeats"))
    if repeat_share > 0:
        served = (f" The {html.escape(best.name)} model is therefore served inside the <code>repeat</code> model: its "
                  "lists stay as they are, and lists that let seen products come back (<code>--include-seen</code>, "
                  "<code>?include_seen=true</code>, campaign groups with <code>include_seen</code>) rank them by a "
                  "comeback chance learned from each customer's latest events." if with_repeats else "")
        section.html += (f"<p>{repeat_share:.0%} of the products customers turned to in the held-out events were ones "
                         "they had already touched. The comparison above leaves them out, as new products are what it "
                         "measures; <code>persona evaluate recommend --repeats</code> measures them too, and "
                         f"<code>persona recommend for CUSTOMER --include-seen</code> lets them come back.{served}</p>")
    section.add_figure(comparison_figure(rows, title=f"{split} holdout, top-10"))
    section.add_figure(timing_figure(rows))
    sample = model.recommend(data.user_ids[:3].tolist(), k=3) if data.n_users else None
    if sample is not None and len(sample):
        section.html += "<h3>Example recommendations</h3>" + sample.to_html(index=False, escape=True)
    return StageResult(
        figures={
            "best_model": best.name,
            "model_version": mv.version,
            "split": split,
            "test_pairs": len(cmp.test),
            "seconds_compare": round(cmp.seconds, 2),
            "models": {r["model"]: {k: r.get(k) for k in ("ndcg@10", "recall@10", "precision@10", "map@10", "coverage", "fit_s")}
                       for r in rows},
            "versus_best": {n: {m: d.to_dict() for m, d in ms.items()} for n, ms in paired.items()},
            "skipped_models": skipped,
            "repeat_share": round(repeat_share, 4),
            "served_with_repeats": with_repeats,
            "blend": blend,
            "lists_versus_runner_up": lists,
        },
        sections=[section],
        message=f"best {best.name}: nDCG@10 {best.metrics['ndcg@10']:.4f}, recall@10 {best.metrics['recall@10']:.4f}",
    )


RECOMMEND = Stage(name="recommend", title="Recommendations", run=run, requires=())
