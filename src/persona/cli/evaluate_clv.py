"""``persona evaluate clv FILE``: BG/NBD, Pareto/NBD, Gamma-Gamma and the hybrid on a calibration/holdout split."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from persona.cli._common import JsonOpt, emit


def _transactions(path: Path, adapter: str | None) -> Any:
    import pandas as pd

    from persona.errors import DataFileError, SchemaError

    if adapter == "cdnow":
        from persona.ingest.adapters.cdnow import read_cdnow_transactions

        return read_cdnow_transactions(path)
    if adapter is not None:
        raise SchemaError(f"--adapter {adapter!r} has no transactions reader", hint="use --adapter cdnow or a CSV with customer_id,date,revenue")
    try:
        df = pd.read_csv(path, sep=None, engine="python")
    except Exception as exc:  # noqa: BLE001 - any parse failure is a bad file
        raise DataFileError(f"cannot read {path}: {exc}", hint="pass a CSV/TSV with customer_id, date and revenue columns") from exc
    missing = [c for c in ("customer_id", "date") if c not in df.columns]
    if missing:
        raise SchemaError(f"{path} lacks column(s) {missing}; it has {list(df.columns)}", hint="name them customer_id, date (and revenue)")
    from persona.predict.clv_evaluate import utc_days

    df["date"] = utc_days(df["date"], what=f"{path} column 'date'")
    if "revenue" not in df.columns:
        df["revenue"] = 0.0
    return df


def register_evaluate(app: typer.Typer) -> None:
    """Add ``evaluate clv`` to the ``evaluate`` group."""

    @app.command("clv")
    def clv(
        path: Annotated[Path, typer.Argument(help="Transactions file (CDNOW layout with --adapter cdnow, or CSV customer_id,date,revenue).")],
        adapter: Annotated[str | None, typer.Option("--adapter", help="Dataset adapter: cdnow.")] = None,
        calibration_end: Annotated[str | None, typer.Option(
            "--calibration-end", help="Last day of the calibration period (YYYY-MM-DD). Default: the middle day between the "
            "first transaction and --observation-end (or the last transaction), so calibration and holdout are as long "
            "as each other (CDNOW: 1997-09-30, 39 of 78 weeks).", show_default=False)] = None,
        observation_end: Annotated[str | None, typer.Option("--observation-end", help="Last holdout day (default: as long as calibration).")] = None,
        freq: Annotated[str, typer.Option("--freq", help="Time unit: W (weeks) or D (days).")] = "W",
        no_hybrid: Annotated[bool, typer.Option("--no-hybrid", help="Skip the hybrid and the selected model (faster).")] = False,
        seed: Annotated[int, typer.Option("--seed", help="Random seed of the hybrid model.")] = 42,
        as_json: JsonOpt = False,
    ) -> None:
        """Fit CLV models on the calibration period; score repeat transactions per customer in the holdout."""
        from persona.errors import DataFileError
        from persona.predict.clv_evaluate import evaluate_clv

        if not path.exists():
            raise DataFileError(f"{path} does not exist", hint="pass the path of a transactions file")
        if path.is_dir() and adapter is None:
            raise DataFileError(f"{path} is a folder, not a file", hint="pass a transactions CSV, or --adapter cdnow for a CDNOW folder")
        rep = evaluate_clv(_transactions(path, adapter), calibration_end, observation_end=observation_end, freq=freq, seed=seed, hybrid=not no_hybrid)
        if as_json:
            emit(rep, True)
            return
        rows = [
            {"model": f"{name} ({m['params']['chosen']})" if name == "selected" else name, "params": {k: round(v, 4) for k, v in m["params"].items() if isinstance(v, float)},
             "log_likelihood": m.get("log_likelihood"), "holdout_rmse": m.get("holdout_rmse"), "holdout_mae": m.get("holdout_mae"),
             "holdout_total_predicted": m.get("holdout_total_predicted"), "holdout_total_actual": m.get("holdout_total_actual"),
             "fit_seconds": m.get("fit_seconds")}
            for name, m in rep["models"].items()
        ]
        emit(rows, False, title=f"CLV models: calibration to {rep['calibration_end']}, holdout to {rep['observation_end']} ({rep['n_customers']} customers)")
        from persona.predict.clv_tracking import tracking_blocks

        emit(tracking_blocks(rep["tracking"]), False,
             title="Tracking: repeat purchases per block of weeks, actual vs each model's expectation (no customer history used)")
