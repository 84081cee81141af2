"""Stage ``clv``: BG/NBD + Gamma-Gamma + hybrid lifetime value, next purchase, and the revenue forecast."""

from __future__ import annotations

import html
import logging
from typing import Any

from persona.pipeline.stage import RunContext, Section, Stage, StageResult
from persona.pipeline.stages.profiles import table_html

log = logging.getLogger(__name__)


def _clv_figure(clv: Any, p_alive: Any) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 3.8))
    a1.hist(p_alive, bins=40, range=(0.0, 1.0), color="#4477aa")  # a probability: values a rounding error apart still plot
    a1.set_xlabel("P(alive) (BG/NBD)")
    a1.set_ylabel("customers")
    a2.hist(np.clip(clv, 0, np.quantile(clv, 0.99)), bins=50, color="#228833")
    a2.set_xlabel("12-month CLV (clipped at the 99th percentile)")
    fig.tight_layout()
    return fig


def _tracking_figure(track: Any) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    when = pd.to_datetime(track["period_start"])
    fig, ax = plt.subplots(figsize=(12, 3.8))
    ax.plot(when, track["actual"], label="actual", color="#333333", lw=1.2)
    for name, vals in track["expected"].items():
        ax.plot(when, vals, label=name, lw=1)
    if track["calibration_periods"] < len(when):
        ax.axvline(when[track["calibration_periods"]], color="#999999", ls="--", lw=1)
    ax.set_ylabel(f"repeat purchases per {track['period_days']} days")
    ax.set_title("Tracking: actual vs expected repeat purchases (dashed line: end of calibration)")
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    return fig


def _forecast_figure(series: Any, fc: Any, freq: str) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(12, 3.8))
    hist = series.iloc[-(120 if freq == "D" else 52):]
    ax.plot(hist.index, hist.to_numpy(), label="revenue", color="#333333", lw=1)
    ax.plot(fc["date"], fc["forecast"], label="forecast", color="#cc3311")
    ax.fill_between(fc["date"], fc["lower"], fc["upper"], color="#cc3311", alpha=0.2, label="90% interval")
    ax.set_ylabel("revenue per day" if freq == "D" else "revenue per week")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def run(ctx: RunContext) -> StageResult:
    """Fit the CLV models on the workspace's purchases, store predictions, forecast revenue."""
    import pandas as pd

    from persona.engines import open_purchases
    from persona.errors import InputError
    from persona.predict.clv_workspace import run_clv
    from persona.predict.forecast import RevenueForecaster, rolling_backtest
    from persona.predict.next_purchase import backtest_next_purchase

    try:
        history = open_purchases(ctx.store)  # on spark the summaries and daily revenue are Spark's
        ctx.artifacts["engine_purchases"] = history  # released with the run (Spark keeps its daily totals until then)
        history.require_amounts()
        rep = run_clv(ctx.store, seed=ctx.seed, top=10, purchases=history)
    except InputError as exc:  # the data cannot carry the models (no amounts, no repeat buyers): say why
        return StageResult(status="skipped", message=str(exc))
    arrays = rep.pop("_arrays")
    bg, gg = rep["bgnbd"], rep["gamma_gamma"]
    rows = []
    if "backtest" in rep:
        for name, m in rep["backtest"]["models"].items():
            if "holdout_rmse" in m:
                rows.append({"model": name, **{k: m.get(k) for k in ("holdout_rmse", "holdout_mae", "holdout_total_predicted", "holdout_total_actual")}})
    params = ", ".join(f"{k} = {v:.3f}" for k, v in bg["params"].items())
    gparams = ", ".join(f"{k} = {v:.3f}" for k, v in gg["params"].items())
    intro = (
        f"<p>BG/NBD fit on {rep['n_customers']:,} customers' purchases up to {html.escape(rep['calibration_end'])}: {params} "
        f"(log-likelihood {bg['log_likelihood']:.1f}; purchases summarised by the {html.escape(history.engine)} engine). Gamma-Gamma on {gg['n_customers']:,} repeat buyers: {gparams}. "
        f"Expected purchases come from the {html.escape(rep['transaction_model'])}; 12-month CLV discounts monthly at 10% a year. "
        f"Total predicted 12-month value {rep['clv_total']:,.0f}; mean P(alive) {rep['p_alive_mean']:.2f}.</p>"
    )
    if rows:
        bt = rep["backtest"]
        intro += (f"<h3>Backtest: calibration to {html.escape(bt['calibration_end'])}, repeat purchases to "
                  f"{html.escape(bt['observation_end'])} per customer</h3>" + table_html(rows, list(rows[0])))
    sec = Section(title="Customer lifetime value (BG/NBD, Gamma-Gamma, hybrid)",
                  html=intro + "<h3>Highest CLV</h3>" + table_html(rep["top_customers"], list(rep["top_customers"][0]) if rep["top_customers"] else []))
    sec.add_figure(_clv_figure(arrays["clv"], arrays["p_alive"]))
    track = rep.get("backtest", {}).get("tracking")
    if track is not None:
        sec.add_figure(_tracking_figure(track))
    figures: dict[str, Any] = {
        "engine": history.engine,
        "bgnbd": bg["params"], "gamma_gamma": gg["params"], "clv_total": rep["clv_total"], "p_alive_mean": rep["p_alive_mean"],
        "transaction_model": rep["transaction_model"],
        "backtest": {r["model"]: {"rmse": r["holdout_rmse"], "total_predicted": r["holdout_total_predicted"], "total_actual": r["holdout_total_actual"]} for r in rows},
    }
    sections = [sec]
    first, end = history.days()
    if (end - first).days >= 90:
        figures["next_purchase_backtest"] = backtest_next_purchase(history.transactions(), end - pd.Timedelta(days=30), window_days=30)
    series = history.revenue_series("D")
    if len(series) >= 60:
        fc = RevenueForecaster(freq="D").fit(series).forecast(28)
        bt = rolling_backtest(series, freq="D", horizon=14, n_origins=3)
        figures["forecast_backtest"] = {k: bt[k] for k in ("mape", "smape", "mape_seasonal_naive", "smape_seasonal_naive", "coverage")}
        fsec = Section(
            title="Revenue forecast (structural time series, weekly/yearly seasonality)",
            html=(f"<p>Next 28 days: {fc['forecast'].sum():,.0f} expected revenue (90% intervals per day shown). Rolling-origin backtest "
                  f"(3 origins × 14 days): sMAPE {bt['smape']:.3f} vs seasonal-naive {bt['smape_seasonal_naive']:.3f}; MAPE {bt['mape']:.3f} vs "
                  f"{bt['mape_seasonal_naive']:.3f}; interval coverage {bt['coverage']:.2f}.</p>"),
        )
        fsec.add_figure(_forecast_figure(series, fc, "D"))
        sections.append(fsec)
    ctx.artifacts["clv"] = rep
    return StageResult(figures=figures, sections=sections)


CLV = Stage(name="clv", title="Customer lifetime value and revenue forecast", run=run)
