"""Experiment section of the HTML report: results table, intervals plot, cumulative lift, Qini curves."""

from __future__ import annotations

import html
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from persona.experiments.analysis import AnalysisResult


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def plot_intervals(result: AnalysisResult) -> Any:
    """Differences against control with their confidence intervals, one panel per metric."""
    plt = _plt()
    cmp = result.comparisons
    metrics = list(dict.fromkeys(cmp["metric"]))
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 0.6 + 0.55 * cmp["variant"].nunique() + 1),
                             squeeze=False)
    for ax, m in zip(axes[0], metrics, strict=True):
        sub = cmp[cmp["metric"] == m].reset_index(drop=True)
        scale = 100.0 if sub["kind"].iloc[0] == "rate" else 1.0
        ys = np.arange(len(sub))
        for y, r in zip(ys, sub.itertuples(index=False), strict=True):
            color = "#0a7b34" if r.significant else "#6b7785"
            ax.errorbar([r.difference * scale], [y], xerr=[[(r.difference - r.ci_low) * scale], [(r.ci_high - r.difference) * scale]],
                        fmt="o", color=color, ecolor=color, capsize=4)
        ax.axvline(0, color="#b3261e", lw=1, ls="--")
        ax.set_yticks(ys, [str(v) for v in sub["variant"]])
        ax.set_xlabel(f"{m}: difference vs {result.control}" + (" (pp)" if scale == 100 else ""))
    fig.suptitle(f"{(1 - result.alpha):.0%} confidence intervals (green: significant after {result.correction})", fontsize=10)
    fig.tight_layout()
    return fig


def plot_cumulative_lift(monitor: pd.DataFrame, *, metric: str = "conversion", pp: bool = True) -> Any:
    """Estimated lift as customers accumulate, with the always-valid confidence sequence."""
    plt = _plt()
    s = 100.0 if pp else 1.0
    fig, ax = plt.subplots(figsize=(7, 3.4))
    x = monitor["customers"].to_numpy()
    ax.fill_between(x, monitor["ci_low"].clip(lower=-1e9).to_numpy() * s, monitor["ci_high"].clip(upper=1e9).to_numpy() * s, alpha=0.25,
                    color="#1f77b4", label="always-valid 95% confidence sequence")
    ax.plot(x, monitor["estimate"].to_numpy() * s, color="#1f77b4", label="cumulative lift")
    ax.axhline(0, color="#b3261e", lw=1, ls="--")
    finite = monitor[np.isfinite(monitor["ci_low"]) & np.isfinite(monitor["ci_high"])]
    if not finite.empty:
        span = max(abs(finite["ci_low"]).max(), abs(finite["ci_high"]).max()) * s
        ax.set_ylim(-1.1 * span, 1.1 * span)
    ax.set_xlabel("customers exposed (in exposure order)")
    ax.set_ylabel(f"{metric} lift" + (" (pp)" if pp else ""))
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    return fig


def plot_qini(curves: Mapping[str, tuple[np.ndarray, np.ndarray]], title: str = "Qini curves") -> Any:
    """Qini curves of several uplift models against random targeting."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    last = None
    for name, (x, y) in curves.items():
        ax.plot(x, y, label=name, lw=1.3)
        last = (x, y)
    if last is not None:
        ax.plot([0, last[0][-1]], [0, last[1][-1]], color="black", ls="--", lw=1, label="random")
    ax.set_xlabel("customers targeted (by predicted uplift)")
    ax.set_ylabel("incremental responders")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def table_html(df: pd.DataFrame, columns: list[str] | None = None, digits: int = 4) -> str:
    """A small escaped HTML table."""
    df = df[columns] if columns else df
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    rows = []
    for rec in df.itertuples(index=False):
        cells = []
        for v in rec:
            if isinstance(v, float | np.floating):
                v = "" if np.isnan(v) else (f"{v:.3g}" if abs(v) < 1e-3 and v != 0 else f"{v:,.{digits}f}")
            cells.append(f"<td>{html.escape(str(v))}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def experiment_section(result: AnalysisResult, *, title: str = "Experiment", monitor: pd.DataFrame | None = None,
                       qini: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None) -> Any:
    """Build the report :class:`~persona.pipeline.stage.Section` for one analysed experiment."""
    from persona.pipeline.stage import Section

    parts = ["<ul>" + "".join(f"<li>{html.escape(v)}</li>" for v in result.verdicts) + "</ul>"]
    if result.notes:
        parts.append("<p><b>Notes:</b> " + "; ".join(html.escape(n) for n in result.notes) + "</p>")
    parts.append("<h3>Per arm</h3>" + table_html(result.arms.drop(columns=[c for c in ("kind",) if c in result.arms])))
    cols = [c for c in ("metric", "variant", "control", "value", "control_value", "difference", "ci_low", "ci_high",
                        "bootstrap_ci_low", "bootstrap_ci_high", "relative_lift", "p_value", "p_adjusted", "significant")
            if c in result.comparisons]
    parts.append("<h3>Against control</h3>" + table_html(result.comparisons, cols))
    if result.srm:
        parts.append(f"<p>Sample-ratio check: chi-square p = {result.srm['p_value']:.3g}"
                     f"{' — MISMATCH' if result.srm['mismatch'] else ' (no mismatch)'}</p>")
    sec = Section(title=title, html="\n".join(parts))
    sec.add_figure(plot_intervals(result))
    if monitor is not None and not monitor.empty:
        sec.add_figure(plot_cumulative_lift(monitor))
    if qini:
        sec.add_figure(plot_qini(qini))
    return sec


def write_html(sections: list[Any], path: str | Path, *, settings: Any = None, title: str = "experiments") -> Path:
    """Write a standalone HTML page (the run report's template) holding the given sections."""
    from persona.config import load_settings
    from persona.pipeline.report import write_report
    from persona.pipeline.stage import RunContext, StageResult

    st = settings or load_settings(Path(path).parent)
    ctx = RunContext(settings=st, store=None, data_dir=None)
    ctx.results[title] = StageResult(status="ok", sections=sections)
    return write_report(ctx, Path(path))
