"""Stage EXPERIMENTS: analyse the stored (campaign) experiments and show what the shop can detect.

On the demo shop the campaign's experiment is exposed at the end of the data, so its outcomes only
arrive with later feedback events; until they do, the stage reports arm sizes, the sample-ratio check
and the power table rather than inventing a result. No simulated A/B is presented as a result.
"""

from __future__ import annotations

import html
import logging
from typing import Any

import pandas as pd

from persona.pipeline.stage import RunContext, Section, Stage, StageResult

log = logging.getLogger(__name__)
WINDOW_DAYS = 14.0


def _baseline_rate(store: Any, window_days: float = WINDOW_DAYS) -> tuple[float | None, int]:
    """Share of customers who purchased in the last ``window_days`` of the data, and the customer count."""
    n = store.count("customers")
    last = store.read_frame("SELECT MAX(ts) AS t FROM events WHERE event_type = 'purchase'")["t"].iloc[0]
    if n == 0 or last is None or pd.isna(last):
        return None, n
    start = pd.Timestamp(last)
    start = (start.tz_localize("UTC") if start.tzinfo is None else start) - pd.Timedelta(days=window_days)
    buyers = store.read_frame(
        "SELECT COUNT(DISTINCT customer_id) AS n FROM events WHERE event_type = 'purchase' AND ts > :start",
        {"start": start.to_pydatetime()})["n"].iloc[0]
    return float(buyers) / n, n


def _power_section(baseline: float, n_customers: int, holdout_share: float) -> tuple[Section, dict[str, Any]]:
    from persona.experiments.power import mde_proportions, power_table
    from persona.experiments.report import table_html

    table = pd.DataFrame(power_table(baseline, mdes=[0.05, 0.1, 0.2, 0.3, 0.5, 1.0]))
    half = n_customers // 2
    n_hold = max(int(n_customers * holdout_share), 2)
    mde_ab = mde_proportions(baseline, half) if half >= 2 else float("nan")
    mde_hold = mde_proportions(baseline, n_hold, ratio=(n_customers - n_hold) / n_hold) if n_hold >= 2 else float("nan")
    table["fits_in_shop"] = table["n_total"] <= n_customers
    text = (f"<p>Baseline: {baseline:.2%} of the shop's {n_customers:,} customers bought in the last "
            f"{WINDOW_DAYS:.0f} days of the data. With a 50/50 split of all customers the smallest lift detectable "
            f"with 80% power (α = 0.05) is {mde_ab * 100:.2f} pp ({mde_ab / baseline:.0%} relative); with a "
            f"{holdout_share:.0%} holdout against the rest it is {mde_hold * 100:.2f} pp ({mde_hold / baseline:.0%}).</p>")
    sec = Section(title="Experiments: what this shop can detect", html=text + table_html(
        table, ["mde_rel", "mde_abs", "n_control", "n_treatment", "n_total", "fits_in_shop"]))
    return sec, {"baseline_rate": baseline, "customers": n_customers, "mde_50_50_pp": mde_ab * 100,
                 "mde_holdout_pp": mde_hold * 100, "power_table": table.to_dict(orient="records")}


def run(ctx: RunContext) -> StageResult:
    """Analyse every stored experiment with exposures; add the power table for the shop."""
    from persona.experiments.analysis import analyze_experiment, experiment_frame
    from persona.experiments.assignment import load_experiment, srm_check
    from persona.experiments.report import experiment_section
    from persona.experiments.sequential import SequentialMonitor

    store = ctx.store
    figures: dict[str, Any] = {"experiments": {}}
    sections: list[Section] = []
    names = store.read_frame("SELECT DISTINCT experiment FROM assignments ORDER BY experiment")["experiment"].tolist()
    holdout_share = 0.1
    for name in names:
        spec = load_experiment(store, name)
        holdout_share = spec.holdout or holdout_share
        frame = experiment_frame(store, name, window_days=WINDOW_DAYS)
        counts = frame["variant"].value_counts().to_dict()
        info: dict[str, Any] = {"exposed": int(len(frame)), "arms": counts, "conversions_after_exposure": int(frame["converted"].sum())}
        if len(counts) >= 2:
            srm = srm_check(counts, {k: v for k, v in spec.weights().items() if k in counts})
            info["srm_p_value"] = srm.p_value
            info["srm_mismatch"] = srm.mismatch
        if len(counts) < 2 or frame["converted"].sum() == 0:
            reason = ("only one arm was exposed" if len(counts) < 2 else
                      f"no conversion has been observed in the {WINDOW_DAYS:.0f} days after exposure yet")
            info["status"] = f"awaiting outcomes: {reason}"
            arms = ", ".join(f"{html.escape(str(k))}: {v:,}" for k, v in counts.items())
            sections.append(Section(title=f"Experiment {name}", html=(
                f"<p>{len(frame):,} customers exposed ({arms}); {reason}. The result is computed when feedback "
                f"events (purchases) arrive: <code>persona experiments analyze {html.escape(name)}</code>.</p>"
                + (f"<p>Sample-ratio check: chi-square p = {info['srm_p_value']:.3g}"
                   f"{' — MISMATCH' if info.get('srm_mismatch') else ' (no mismatch)'}.</p>" if "srm_p_value" in info else ""))))
        else:
            res = analyze_experiment(store, name, window_days=WINDOW_DAYS, seed=ctx.seed)
            info.update(status="analysed", verdicts=res.verdicts, comparisons=res.comparisons.to_dict(orient="records"))
            treated = [v for v in counts if v != res.control]
            sub = frame[frame["variant"].isin([res.control, treated[0]])]
            mon = SequentialMonitor(planned_n=int(sub["variant"].value_counts().min())).monitor(
                sub["exposed_at"].astype("int64"), sub["variant"] == treated[0], sub["converted"])
            sections.append(experiment_section(res, title=f"Experiment {name}", monitor=mon))
        figures["experiments"][name] = info
    baseline, n_customers = _baseline_rate(store)
    if baseline and 0 < baseline < 1 and n_customers >= 4:
        sec, fig = _power_section(baseline, n_customers, holdout_share)
        sections.append(sec)
        figures["power"] = fig
    sections.append(Section(title="Experiments: uplift modelling", html=(
        "<p>No uplift model is fitted on this data: uplift needs outcomes from customers randomly assigned to "
        "receive a message or not, and the shop's history has no such randomised e-mail sends yet. Once a "
        "campaign's holdout has outcomes, <code>persona.experiments.uplift</code> learners can be trained on "
        "them; <code>python bench/bench_uplift.py</code> shows them on the public Hillstrom experiment.</p>")))
    if not names:
        msg = "no experiment has exposures yet; power table only"
    else:
        msg = "; ".join(f"{k}: {v.get('status')}" for k, v in figures["experiments"].items())
    return StageResult(status="ok", figures=figures, sections=sections, message=msg)


EXPERIMENTS = Stage(name="experiments", title="Experiments", run=run)
