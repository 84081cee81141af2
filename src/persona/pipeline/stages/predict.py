"""Stage ``predict``: churn, purchase propensity (overall and per category) and spend, each backtested in time."""

from __future__ import annotations

import html
import logging
from typing import Any

import pandas as pd

from persona.pipeline.stage import RunContext, Section, Stage, StageResult
from persona.pipeline.stages.profiles import table_html

log = logging.getLogger(__name__)
METRICS = ["auc", "pr_auc", "brier", "lift_top_decile", "base_rate", "n"]


def _figure(reports: dict[str, dict[str, Any]]) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(reports)
    auc = [reports[n]["backtest"].get("auc") or 0 for n in names]
    base = [reports[n]["backtest"].get("baseline", {}).get("auc") or 0 for n in names]
    imp = reports[names[0]]["importance"][:10]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(13, 4.2))
    pos = range(len(names))
    a1.barh([p - 0.2 for p in pos], auc, height=0.4, label="model")
    a1.barh([p + 0.2 for p in pos], base, height=0.4, label="recency alone")
    a1.set_yticks(list(pos), names, fontsize=8)
    a1.invert_yaxis()
    a1.set_xlim(0.5, 1.0)
    a1.set_xlabel("backtest AUC")
    a1.legend(fontsize=8)
    a2.barh([r["feature"] for r in imp][::-1], [r["importance"] for r in imp][::-1])
    a2.set_title(f"{names[0]}: feature importance (gain share)")
    fig.tight_layout()
    return fig


def run(ctx: RunContext) -> StageResult:
    """Fit every model on point-in-time features, report its backtest and store its predictions."""
    from persona.engines import open_shop
    from persona.errors import InputError
    from persona.predict.backtest import MIN_HISTORY_DAYS, FeatureCache, plan_backtest
    from persona.predict.runs import run_churn, run_propensity, run_spend

    # the engine's shop: on spark the point-in-time features and the labels' purchase sums are computed by Spark
    data = ctx.artifacts.get("engine_shop") or open_shop(ctx.store, loaded=ctx.artifacts.get("shop_data"))
    last = data.last_event_ts
    if last is None:
        return StageResult(status="skipped", message="no events")
    span = int((last - data.first_event_ts) / pd.Timedelta(days=1))
    horizon = min(90, (span - MIN_HISTORY_DAYS) // 2)  # a shop with a short history gets shorter horizons, not a failure
    if horizon < 14:
        return StageResult(status="skipped", message=f"{span} days of events: backtests need at least {2 * 14 + MIN_HISTORY_DAYS}")
    cache = FeatureCache(data)
    fitted: dict[str, Any] = {}
    try:
        # the three models' backtests (their default plans): on Spark every cutoff's features and label window in two passes
        cache.warm(plan_backtest(data, h) for h in (horizon, min(30, horizon)))
        churn = run_churn(data, ctx.store, horizon_days=horizon, seed=ctx.seed, cache=cache, top=5, fitted=fitted)
        prop = run_propensity(data, ctx.store, horizon_days=min(30, horizon), seed=ctx.seed, cache=cache, top=5, n_categories=3,
                              explain_categories=300, fitted=fitted)
        spend = run_spend(data, ctx.store, horizon_days=horizon, seed=ctx.seed, cache=cache, top=5)
    except InputError as exc:  # the data cannot carry a backtest (e.g. no purchases before any cutoff): say why
        return StageResult(status="skipped", message=str(exc))
    reports = {f"churn ({horizon} days)": churn, f"purchase ({min(30, horizon)} days)": prop}
    for c, r in prop.get("categories", {}).items():
        if "backtest" in r:
            reports[f"buys {c} ({min(30, horizon)} days)"] = r
    rows = [{"model": n, **{m: r["backtest"].get(m) for m in METRICS}, "recency-only AUC": r["backtest"].get("baseline", {}).get("auc"),
             "calibration": r["backtest"].get("calibration")} for n, r in reports.items()]
    plan = churn["plan"]
    intro = (f"<p>Features are computed as of each cutoff from earlier events only (by the {html.escape(data.engine)} engine); "
             f"labels come from the following window. "
             f"Churn trains on cutoffs {html.escape(', '.join(t[:10] for t in plan['train_cutoffs']))} and is tested at "
             f"{html.escape(plan['test_cutoff'][:10])}. Probabilities are LightGBM, calibrated on customers held out of training.</p>")
    sec = Section(title="Predictions: churn and purchase propensity (time-based backtest)",
                  html=intro + table_html(rows, ["model", *METRICS, "recency-only AUC", "calibration"])
                  + "<h3>Customers most at risk of churning</h3>" + table_html(churn["top_customers"], ["customer_id", "probability", "why"]))
    sec.add_figure(_figure(reports))
    sbt = spend["backtest"]
    sec2 = Section(
        title="Predictions: next-90-day spend (standardized linear regression)",
        html=(f"<p>Backtest R² {sbt['r2']:.3f}, MAE {sbt['mae']:.2f} (mean actual spend {sbt['mean_actual']:.2f}); "
              f"the naive rule ({html.escape(sbt['baseline']['rule'])}) scores R² {sbt['baseline']['r2']:.3f}, MAE {sbt['baseline']['mae']:.2f}. "
              f"Coefficients are currency per standard deviation of each feature (intercept {spend['intercept']:.2f}).</p>"
              + table_html(spend["coefficients"][:12], ["feature", "coefficient"])),
    )
    figures = {
        "engine": data.engine,
        "churn": {k: churn["backtest"].get(k) for k in ("auc", "pr_auc", "brier", "lift_top_decile")} | {"baseline_auc": churn["backtest"]["baseline"].get("auc")},
        "propensity": {k: prop["backtest"].get(k) for k in ("auc", "pr_auc", "brier", "lift_top_decile")} | {"baseline_auc": prop["backtest"]["baseline"].get("auc")},
        "propensity_categories": {c: r.get("backtest", {}).get("auc") for c, r in prop.get("categories", {}).items()},
        "spend": {k: sbt.get(k) for k in ("r2", "mae")} | {"baseline_r2": sbt["baseline"]["r2"]},
        "scored": {"churn": churn["scored"], "propensity": prop["scored"], "spend": spend["scored"]},
    }
    ctx.artifacts["predictions"] = {"churn": churn, "propensity": prop, "spend": spend}
    ctx.artifacts["outcome_models"] = fitted  # their backtests feed the fairness audit
    return StageResult(figures=figures, sections=[sec, sec2])


PREDICT = Stage(name="predict", title="Predictions", run=run, requires=("profiles",))
