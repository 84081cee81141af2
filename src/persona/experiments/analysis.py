"""Analysis of an A/B(/n) test: per-arm rates and revenue, differences against control with intervals,
the right test per metric, multiple-comparison correction and a plain-language verdict.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from statsmodels.stats.multitest import multipletests

from persona.errors import InputError, SchemaError
from persona.experiments.assignment import srm_check
from persona.experiments.inference import (
    bootstrap_mean_diff,
    two_proportion_ztest,
    welch_ttest,
    wilson_interval,
)
from persona.experiments.power import mde_proportions, sample_size_means, sample_size_proportions

log = logging.getLogger(__name__)

CORRECTIONS = {"holm": "holm", "bonferroni": "bonferroni", "none": None}


@dataclass
class AnalysisResult:
    """Everything an analysis found: per-arm table, comparisons, sample-ratio check and verdicts."""

    arms: pd.DataFrame
    comparisons: pd.DataFrame
    control: str
    alpha: float
    correction: str
    srm: dict[str, Any] | None = None
    verdicts: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (for ``--json`` and the API)."""
        return {
            "control": self.control, "alpha": self.alpha, "correction": self.correction,
            "arms": self.arms.to_dict(orient="records"),
            "comparisons": self.comparisons.to_dict(orient="records"),
            "srm": self.srm, "verdicts": self.verdicts, "notes": self.notes,
            **{k: v for k, v in self.extras.items() if not isinstance(v, pd.DataFrame)},
        }


def variant_label(v: Any) -> str:
    """The string name of a variant value (1.0 and 1 both become "1")."""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _validate(df: pd.DataFrame, treatment: str, outcomes: list[str], revenue: str | None,
              control: Any, continuous: Sequence[str]) -> tuple[pd.DataFrame, str]:
    if not isinstance(df, pd.DataFrame):
        raise InputError(f"expected a pandas DataFrame, got {type(df).__name__}")
    cols = [treatment, *outcomes] + ([revenue] if revenue else [])
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise SchemaError(f"column(s) {missing} not found", hint=f"available columns: {list(df.columns)[:30]}")
    if len(set(cols)) != len(cols):
        raise InputError(f"treatment, outcome and revenue columns must differ, got {cols}")
    if df.empty:
        raise InputError("the data has no rows")
    for c in cols:
        n_na = int(df[c].isna().sum())
        if n_na:
            raise InputError(f"column {c!r} has {n_na} missing value(s)", hint="drop or fill those rows first")
    data = df[cols].copy()
    data[treatment] = data[treatment].map(variant_label)
    labels = sorted(data[treatment].unique())
    if len(labels) < 2:
        raise InputError(f"column {treatment!r} has only one variant ({labels})",
                         hint="an experiment needs a control and at least one other variant")
    for c in outcomes:
        col = data[c]
        if c in continuous:
            if not pd.api.types.is_numeric_dtype(col):
                raise SchemaError(f"outcome {c!r} must be numeric, got {col.dtype}")
            data[c] = col.astype(float)
            continue
        if col.dtype == bool:
            data[c] = col.astype(int)
            continue
        values = set(pd.unique(col))
        if not pd.api.types.is_numeric_dtype(col) or not values <= {0, 1}:
            shown = sorted(map(str, values))[:6]
            raise SchemaError(f"outcome {c!r} must be binary (0/1 or true/false) to analyse it as a rate; got values {shown}",
                              hint="pass a numeric metric as revenue (--revenue) or as a continuous outcome (--continuous)")
        data[c] = col.astype(int)
    if revenue:
        if not pd.api.types.is_numeric_dtype(data[revenue]):
            raise SchemaError(f"revenue column {revenue!r} must be numeric, got {data[revenue].dtype}")
        data[revenue] = data[revenue].astype(float)
    if control is None:
        ctrl = "control" if "control" in labels else labels[0]
    else:
        ctrl = variant_label(control)
        if ctrl not in labels:
            raise InputError(f"control value {ctrl!r} is not a value of {treatment!r}", hint=f"values: {labels}")
    return data, ctrl


def _fmt_num(x: float, pp: bool) -> str:
    if pp:
        return f"{x * 100:.2f} pp" if abs(x) < 0.01 else f"{x * 100:.1f} pp"
    return f"{x:,.2f}" if abs(x) >= 0.1 else f"{x:.3g}"


def _p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def analyze(df: pd.DataFrame, treatment: str = "variant", outcome: str | Sequence[str] = "converted", *,
            control: Any = None, revenue: str | None = None, alpha: float = 0.05, correction: str = "holm",
            continuous: Sequence[str] = (), power: float = 0.8, n_boot: int = 2000, seed: int = 0,
            expected_weights: dict[str, float] | None = None, control_option: str = "control=") -> AnalysisResult:
    """Analyse an experiment given one row per customer.

    Args:
        df: one row per customer with the variant and the outcomes.
        treatment: column holding the variant name.
        outcome: binary outcome column(s) analysed as rates (two-proportion z-test, Newcombe interval).
        control: the control variant's value; default "control" when present, else the first in sorted order.
        revenue: numeric column analysed as revenue per customer (Welch's t-test and a seeded bootstrap interval).
        alpha: significance level; intervals are (1 - alpha).
        correction: "holm" (default), "bonferroni" or "none" across the variants compared with control.
        continuous: outcome columns to analyse as means (Welch) instead of rates.
        power: power used in the "how many customers would you need" advice.
        n_boot: bootstrap replicates for the revenue interval (0 to skip).
        seed: bootstrap seed.
        expected_weights: planned share per variant for the sample-ratio check (default: equal).
        control_option: how the caller's user names the control (``--control`` on the command line), for the note
            given when the control was chosen by default.

    Returns:
        An :class:`AnalysisResult`.

    Raises:
        SchemaError: missing columns or a non-binary rate outcome.
        InputError: one variant only, unknown control, missing values, bad alpha/correction.
    """
    if correction not in CORRECTIONS:
        raise InputError(f"unknown correction {correction!r}", hint=f"use one of {sorted(CORRECTIONS)}")
    if not 0 < alpha < 0.5:
        raise InputError(f"alpha must be in (0, 0.5), got {alpha}")
    outcomes = [outcome] if isinstance(outcome, str) else list(outcome)
    if not outcomes and not revenue:
        raise InputError("nothing to analyse: give an outcome and/or a revenue column")
    continuous = list(continuous)
    unknown = [c for c in continuous if c not in outcomes]
    if unknown:
        raise InputError(f"continuous columns {unknown} are not among the outcomes {outcomes}")
    data, ctrl = _validate(df, treatment, outcomes, revenue, control, continuous)
    g = data.groupby(treatment, sort=True)
    variants = [v for v in g.groups if v != ctrl]
    arms_rows: list[dict[str, Any]] = []
    cmp_rows: list[dict[str, Any]] = []
    n = g.size()
    metrics: list[tuple[str, str]] = [(c, "mean" if c in continuous else "rate") for c in outcomes]
    if revenue:
        metrics.append((revenue, "revenue"))
    for col, kind in metrics:
        agg = g[col].agg(["count", "sum", "mean", "var"])
        for v, row in agg.iterrows():
            r: dict[str, Any] = {"variant": v, "metric": col, "kind": kind, "n": int(row["count"])}
            if kind == "rate":
                lo, hi = wilson_interval(row["sum"], row["count"], alpha)
                r.update(successes=int(row["sum"]), value=float(row["mean"]), ci_low=float(lo), ci_high=float(hi))
            else:
                res = welch_ttest(row["mean"], row["var"], row["count"], 0.0, 0.0, np.inf, alpha)
                r.update(total=float(row["sum"]), value=float(row["mean"]), sd=float(math.sqrt(row["var"])),
                         ci_low=float(res.ci_low), ci_high=float(res.ci_high))
            arms_rows.append(r)
        c = agg.loc[ctrl]
        rows = []
        for v in variants:
            a = agg.loc[v]
            if kind == "rate":
                res = two_proportion_ztest(a["sum"], a["count"], c["sum"], c["count"], alpha)
                test = "two-proportion z-test (pooled); Newcombe interval"
            else:
                res = welch_ttest(a["mean"], a["var"], a["count"], c["mean"], c["var"], c["count"], alpha)
                test = "Welch t-test"
            row = {"metric": col, "kind": kind, "variant": v, "control": ctrl, "value": float(a["mean"]),
                   "control_value": float(c["mean"]), "difference": float(res.estimate),
                   "ci_low": float(res.ci_low), "ci_high": float(res.ci_high),
                   "relative_lift": float(res.estimate / c["mean"]) if c["mean"] else float("nan"),
                   "test": test, "statistic": float(res.statistic), "p_value": float(res.p_value)}
            if kind == "revenue" and n_boot:
                blo, bhi = bootstrap_mean_diff(data.loc[data[treatment] == v, col].to_numpy(),
                                               data.loc[data[treatment] == ctrl, col].to_numpy(),
                                               alpha=alpha, n_boot=n_boot, seed=seed)
                row.update(bootstrap_ci_low=blo, bootstrap_ci_high=bhi)
            rows.append(row)
        pvals = np.array([r["p_value"] for r in rows])
        method = CORRECTIONS[correction]
        adj = multipletests(pvals, alpha=alpha, method=method)[1] if (method and len(pvals) > 1) else pvals
        for r, pa in zip(rows, adj, strict=True):
            r["p_adjusted"] = float(pa)
            r["significant"] = bool(pa < alpha)
        cmp_rows.extend(rows)
    arms = pd.DataFrame(arms_rows)
    comparisons = pd.DataFrame(cmp_rows)
    srm = srm_check(n.to_dict(), expected_weights).to_dict()
    result = AnalysisResult(arms=arms, comparisons=comparisons, control=ctrl, alpha=alpha, correction=correction,
                            srm=srm)
    for col, _kind in metrics:
        if data[col].nunique() < 2:
            result.notes.append(f"{col!r} is {data[col].iloc[0]:g} for every customer: the comparison carries no "
                                "information yet (have outcomes been recorded after exposure?)")
    if control is None and ctrl != "control":
        result.notes.append(f"no control given: using {ctrl!r} (first in sorted order); pass {control_option} to choose")
    if srm["mismatch"]:
        result.notes.append(f"sample-ratio mismatch: arm sizes {srm['observed']} are unlikely under the planned split "
                            f"(chi-square p = {srm['p_value']:.2g}); check the assignment before trusting any result")
    result.verdicts = _verdicts(result, n, power)
    return result


def _verdicts(res: AnalysisResult, n: pd.Series, power: float) -> list[str]:
    out = []
    k = len(n) - 1
    corr = "" if res.correction == "none" or k < 2 else f" after {res.correction.capitalize()} correction for {k} comparisons"
    level = f"{(1 - res.alpha) * 100:.0f}% CI"
    for r in res.comparisons.to_dict(orient="records"):
        pp = r["kind"] == "rate"
        name = r["metric"]
        d = r["difference"]
        verb = "raised" if d > 0 else "lowered" if d < 0 else "did not change"
        ci = f"({level} {_fmt_num(r['ci_low'], pp)} to {_fmt_num(r['ci_high'], pp)})"
        head = f"Variant {r['variant']} {verb} {name} by {_fmt_num(abs(d), pp)} {ci}, {_p(r['p_value'])}"
        if r["significant"]:
            out.append(f"{head}; the effect is statistically significant{corr}.")
            continue
        n_arm = int(min(n[r["variant"]], n[r["control"]]))
        advice = ""
        try:
            if pp and 0 < r["control_value"] < 1:
                mde = mde_proportions(r["control_value"], n_arm, alpha=res.alpha, power=power)
                if math.isfinite(mde):
                    advice = (f" With {n_arm:,} per arm the smallest change detectable with {power:.0%} power is "
                              f"about {_fmt_num(mde, True)}")
                else:  # too few customers: not even the largest possible increase reaches the power
                    advice = (f" With {n_arm:,} per arm not even the largest possible change is detectable with "
                              f"{power:.0%} power: collect more customers per arm")
                if d and 0 < r["control_value"] + d < 1:
                    need = sample_size_proportions(r["control_value"], d, alpha=res.alpha, power=power)
                    advice += f"; to detect an effect of the observed size you need about {need:,} per arm."
                else:
                    advice += "."
            elif not pp and d:
                sd = float(res.arms.loc[(res.arms.metric == name) & (res.arms.variant == r["control"]), "sd"].iloc[0])
                if sd > 0:
                    need = sample_size_means(sd, d, alpha=res.alpha, power=power)
                    advice = f" To detect an effect of the observed size you need about {need:,} per arm (you have {n_arm:,})."
        except InputError:
            advice = ""
        out.append(f"{head}; not enough evidence of a difference{corr}.{advice}")
    return out


def _check_window(window_days: float) -> None:
    if not (math.isfinite(window_days) and window_days > 0):
        raise InputError(f"window_days must be a positive number of days, got {window_days:g}")


def experiment_frame(store: Any, name: str, *, window_days: float = 14.0,
                     conversion_events: Sequence[str] = ("purchase",), revenue_event: str | None = "purchase",
                     extra_events: Sequence[str] = ()) -> pd.DataFrame:
    """One row per exposed customer of a stored experiment, with outcomes observed after exposure.

    A customer converts when one of ``conversion_events`` happens in ``[exposed_at, exposed_at + window)``;
    revenue sums the ``revenue`` of ``revenue_event`` events in the same window.

    Returns:
        DataFrame with customer_id, variant, exposed_at, converted (0/1), revenue and one 0/1 column per extra event.
    """
    from persona.experiments.assignment import load_experiment, read_exposures

    _check_window(window_days)
    load_experiment(store, name)  # NotFoundError with the known names when absent
    exp = read_exposures(store, name)
    if exp.empty:
        raise InputError(f"experiment {name!r} has no logged exposures yet",
                         hint="exposures are written by log_exposure when a campaign sends")
    types = sorted(set(conversion_events) | ({revenue_event} if revenue_event else set()) | set(extra_events))
    params = {"name": name, **{f"t{i}": t for i, t in enumerate(types)}}
    marks = ", ".join(f":t{i}" for i in range(len(types)))
    ev = store.read_frame(
        "SELECT e.customer_id, e.event_type, e.ts, e.revenue FROM events e "
        "JOIN assignments a ON a.customer_id = e.customer_id "
        f"WHERE a.experiment = :name AND e.event_type IN ({marks})", params)  # noqa: S608 - placeholders only
    ev["ts"] = pd.to_datetime(ev["ts"], utc=True, format="mixed")
    ev = ev.merge(exp[["customer_id", "exposed_at"]], on="customer_id")
    ev = ev[(ev["ts"] >= ev["exposed_at"]) & (ev["ts"] < ev["exposed_at"] + pd.Timedelta(days=window_days))]
    out = exp.set_index("customer_id")
    conv = ev[ev["event_type"].isin(conversion_events)].groupby("customer_id").size()
    out["converted"] = conv.reindex(out.index).notna().astype(int)
    if revenue_event:
        rev = ev[ev["event_type"] == revenue_event].groupby("customer_id")["revenue"].sum()
        out["revenue"] = pd.to_numeric(rev, errors="coerce").reindex(out.index, fill_value=0.0).fillna(0.0)
    for t in extra_events:
        hit = ev[ev["event_type"] == t].groupby("customer_id").size()
        out[t] = hit.reindex(out.index).notna().astype(int)
    return out.reset_index()


def analyze_experiment(store: Any, name: str, *, window_days: float = 14.0,
                       conversion_events: Sequence[str] = ("purchase",), revenue_event: str | None = "purchase",
                       control: Any = None, alpha: float = 0.05, correction: str = "holm", n_boot: int = 2000,
                       seed: int = 0, control_option: str = "control=") -> AnalysisResult:
    """Analyse a stored experiment: its exposure log joined with conversions and revenue after exposure.

    Args:
        store: the workspace store.
        name: experiment name.
        window_days: attribution window after each customer's exposure.
        conversion_events: event types counted as a conversion.
        revenue_event: event type whose revenue is summed (None: no revenue metric).
        control: control variant; default "control" if present, else "holdout", else the first.
        alpha, correction, n_boot, seed, control_option: as for :func:`analyze`.

    Raises:
        NotFoundError: no such experiment. InputError: no exposures yet or a single arm.
    """
    from persona.experiments.assignment import load_experiment

    _check_window(window_days)
    spec = load_experiment(store, name)
    frame = experiment_frame(store, name, window_days=window_days, conversion_events=conversion_events,
                             revenue_event=revenue_event)
    labels = set(frame["variant"])
    if control is None:
        control = "control" if "control" in labels else ("holdout" if "holdout" in labels else None)
    weights = {k: v for k, v in spec.weights().items() if k in labels}
    res = analyze(frame, "variant", "converted", control=control, revenue="revenue" if revenue_event else None,
                  alpha=alpha, correction=correction, n_boot=n_boot, seed=seed, expected_weights=weights,
                  control_option=control_option)
    res.extras.update(experiment=name, window_days=window_days, conversion_events=list(conversion_events),
                      frame=frame)
    return res
