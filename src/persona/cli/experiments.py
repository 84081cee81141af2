"""``persona experiments``: list, analyse (stored experiments or a data file) and plan (power) experiments."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer

from persona.cli._common import JsonOpt, WorkspaceOpt, console, emit, settings_for
from persona.errors import DataFileError, InputError

app = typer.Typer(help="A/B tests: analyse results, plan sample sizes, list experiments.", no_args_is_help=True)


def _read_data(path: Path):  # noqa: ANN202 - returns a DataFrame
    import pandas as pd

    if not path.is_file():
        raise DataFileError(f"data file not found: {path}", hint="give a CSV or Parquet file with one row per customer")
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
        if suffix in (".csv", ".txt", ".tsv", ".gz"):
            return pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",")
    except Exception as exc:  # noqa: BLE001 - any parser failure is a bad file
        raise DataFileError(f"cannot read {path}: {exc}", hint="is it a valid CSV or Parquet file?") from exc
    raise DataFileError(f"unknown file type {suffix!r} for {path}", hint="use .csv or .parquet")


def _print(result, as_json: bool) -> None:  # noqa: ANN001
    if as_json:
        emit(result.to_dict(), True)
        return
    arms = result.arms.drop(columns=[c for c in ("kind",) if c in result.arms]).to_dict(orient="records")
    emit(arms, False, title="per arm")
    cols = [c for c in ("metric", "variant", "difference", "ci_low", "ci_high", "bootstrap_ci_low", "bootstrap_ci_high",
                        "relative_lift", "p_value", "p_adjusted", "significant") if c in result.comparisons]
    emit(result.comparisons[cols].to_dict(orient="records"), False, title=f"against control {result.control!r}")
    for v in result.verdicts:
        console.print("• " + v, highlight=False)
    for n in result.notes:
        console.print("[yellow]note:[/yellow] " + n, highlight=False)


@app.command("analyze")
def analyze_cmd(
    name: Annotated[str | None, typer.Argument(help="Stored experiment to analyse (omit with --data).")] = None,
    data: Annotated[Path | None, typer.Option("--data", help="CSV/Parquet file, one row per customer.")] = None,
    treatment: Annotated[str, typer.Option("--treatment", help="Column with the variant.")] = "variant",
    outcome: Annotated[list[str] | None, typer.Option("--outcome", help="Binary outcome column (repeatable).")] = None,
    control: Annotated[str | None, typer.Option("--control", help="Value of the control variant.")] = None,
    revenue: Annotated[str | None, typer.Option("--revenue", help="Revenue column (Welch + bootstrap).")] = None,
    continuous: Annotated[list[str] | None, typer.Option("--continuous", help="Outcome analysed as a mean.")] = None,
    alpha: Annotated[float, typer.Option("--alpha")] = 0.05,
    correction: Annotated[str, typer.Option("--correction", help="holm, bonferroni or none.")] = "holm",
    window_days: Annotated[float, typer.Option("--window-days", help="Attribution window (stored experiments).")] = 14.0,
    time_col: Annotated[str | None, typer.Option("--time", help="Exposure-time column (--data): adds always-valid sequential monitoring.")] = None,
    html_out: Annotated[Path | None, typer.Option("--html", help="Also write an HTML page with plots.")] = None,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Analyse an experiment: per-arm rates and revenue, differences vs control, tests, verdict."""
    import pandas as pd

    from persona.experiments.analysis import analyze, analyze_experiment, variant_label

    if not (math.isfinite(window_days) and window_days > 0):
        raise InputError(f"--window-days must be a positive number of days, got {window_days:g}",
                         hint="e.g. --window-days 14 counts what each customer did in the 14 days after exposure")
    monitor = None
    if data is not None:
        if name:
            raise InputError("give either an experiment NAME or --data FILE, not both")
        df = _read_data(data)
        result = analyze(df, treatment, outcome or ["converted"], control=control, revenue=revenue, alpha=alpha,
                         correction=correction, continuous=continuous or (), seed=seed, control_option="--control")
        title = f"Experiment analysis: {data.name}"
        if time_col:
            if time_col not in df.columns:
                raise InputError(f"time column {time_col!r} not found", hint=f"available columns: {list(df.columns)[:30]}")
            first = (outcome or ["converted"])[0]
            frame = df.assign(variant=df[treatment].map(variant_label), exposed_at=pd.to_datetime(df[time_col], utc=True, format="mixed"),
                              converted=df[first])
            monitor = _monitor(result, frame)
    elif name:
        from persona.store import open_store

        settings = settings_for(workspace)
        store = open_store(settings)
        try:
            result = analyze_experiment(store, name, window_days=window_days, control=control, alpha=alpha,
                                        correction=correction, seed=seed, control_option="--control")
        finally:
            store.dispose()
        title = f"Experiment {name}"
        monitor = _monitor(result, result.extras.get("frame"))
    else:
        raise InputError("nothing to analyse", hint="give an experiment NAME or --data FILE --treatment COL --outcome COL")
    if monitor is not None:
        result.extras["sequential"] = monitor.iloc[-1].to_dict()
    if html_out is not None:
        from persona.experiments.report import experiment_section, write_html

        write_html([experiment_section(result, title=title, monitor=monitor)], html_out)
        result.extras["html"] = str(html_out)
    _print(result, as_json)


def _monitor(result, frame):  # noqa: ANN001, ANN202
    """Always-valid monitoring of the first variant against control, in exposure order."""
    from persona.experiments.sequential import SequentialMonitor

    if frame is None:
        return None
    variants = [v for v in frame["variant"].unique() if v != result.control]
    if not variants:
        return None
    sub = frame[frame["variant"].isin([result.control, variants[0]])]
    n_arm = int(sub["variant"].value_counts().min())
    if n_arm < 2:
        return None
    return SequentialMonitor(planned_n=n_arm).monitor(sub["exposed_at"].astype("int64"), sub["variant"] == variants[0],
                                                      sub["converted"])


@app.command("power")
def power_cmd(
    baseline: Annotated[float, typer.Option("--baseline", help="Control conversion rate, e.g. 0.05.")],
    mde: Annotated[float | None, typer.Option("--mde", help="Absolute effect to detect, e.g. 0.01 = 1 pp.")] = None,
    relative: Annotated[bool, typer.Option("--relative", help="Read --mde as a relative lift (0.1 = +10 %).")] = False,
    alpha: Annotated[float, typer.Option("--alpha")] = 0.05,
    power: Annotated[float, typer.Option("--power")] = 0.8,
    ratio: Annotated[float, typer.Option("--ratio", help="Treatment size / control size.")] = 1.0,
    as_json: JsonOpt = False,
) -> None:
    """Sample size per arm to detect an effect (or a table of effects when --mde is omitted)."""
    from persona.experiments.power import power_table, sample_size_proportions

    if mde is None:
        emit(power_table(baseline, alpha=alpha, power=power, ratio=ratio), as_json, title=f"sample size, baseline {baseline}")
        return
    n = sample_size_proportions(baseline, mde, alpha=alpha, power=power, ratio=ratio, relative=relative)
    d = baseline * mde if relative else mde
    emit({"baseline": baseline, "mde_abs": d, "mde_rel": d / baseline, "alpha": alpha, "power": power, "ratio": ratio,
          "n_control": n, "n_treatment": int(-(-n * ratio // 1)), "n_total": n + int(-(-n * ratio // 1))},
         as_json, title="sample size")


@app.command("list")
def list_cmd(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Stored experiments with their split and how many customers were exposed."""
    from persona.store import open_store

    store = open_store(settings_for(workspace))
    try:
        df = store.read_frame(
            "SELECT e.name, e.status, e.holdout, e.created_at, COUNT(a.customer_id) AS exposed "
            "FROM experiments e LEFT JOIN assignments a ON a.experiment = e.name "
            "GROUP BY e.name, e.status, e.holdout, e.created_at ORDER BY e.name")
        variants = store.read_frame("SELECT name, variants FROM experiments")
    finally:
        store.dispose()
    import json

    vmap = {r["name"]: (json.loads(r["variants"]) if isinstance(r["variants"], str) else r["variants"])
            for r in variants.to_dict(orient="records")}
    rows = [{**r, "variants": vmap.get(r["name"])} for r in df.to_dict(orient="records")]
    emit(rows, as_json, title="experiments", columns=["name", "status", "variants", "holdout", "exposed", "created_at"])
