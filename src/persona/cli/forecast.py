"""``persona predict forecast``: revenue by day or week with seasonality, intervals and a rolling backtest."""

from __future__ import annotations

from typing import Annotated

import typer

from persona.cli._common import JsonOpt, WorkspaceOpt, emit


def register_predict(app: typer.Typer) -> None:
    """Add ``predict forecast`` to the ``predict`` group."""

    @app.command("forecast")
    def forecast(
        freq: Annotated[str, typer.Option("--freq", help="D (daily) or W (weekly).")] = "D",
        horizon: Annotated[int, typer.Option("--horizon", help="Periods to forecast.", min=1, max=730)] = 28,
        folds: Annotated[int, typer.Option("--folds", help="Rolling-origin backtest folds (0 = none).", min=0, max=20)] = 3,
        interval: Annotated[float, typer.Option("--interval", help="Prediction interval coverage.", min=0.5, max=0.99)] = 0.9,
        transform: Annotated[str, typer.Option("--transform", help="log (multiplicative seasonality and noise) or none.")] = "log",
        intervals: Annotated[str, typer.Option("--intervals", help="model (state-space) or calibrated (split-conformal on the history).")] = "model",
        coverage: Annotated[bool, typer.Option("--coverage", help="Also measure 80%/95% interval coverage over many rolling origins (slower).")] = False,
        workspace: WorkspaceOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Forecast revenue from the workspace's purchases; backtest against a seasonal-naive baseline."""
        from persona.cli.profiles import open_workspace_store
        from persona.errors import InputError
        from persona.predict.clv_workspace import load_purchases
        from persona.predict.forecast import (
            RevenueForecaster,
            revenue_series,
            rolling_backtest,
            rolling_coverage,
        )

        if freq not in ("D", "W"):
            raise InputError(f"--freq {freq!r} is not supported", hint="use D or W")
        if transform not in ("log", "none") or intervals not in ("model", "calibrated"):
            raise InputError(f"--transform {transform!r} / --intervals {intervals!r} is not supported", hint="use --transform log|none, --intervals model|calibrated")
        store = open_workspace_store(workspace)
        try:
            series = revenue_series(load_purchases(store), freq)
        finally:
            store.dispose()
        fc = RevenueForecaster(freq=freq, interval=interval, transform=transform, intervals=intervals).fit(series).forecast(horizon)
        rep = {"freq": freq, "horizon": horizon, "transform": transform, "intervals": intervals, "history_periods": len(series), "history_end": str(series.index[-1].date()),
               "forecast": [{"date": str(r.date.date()), "forecast": r.forecast, "lower": r.lower, "upper": r.upper} for r in fc.itertuples()]}
        if folds:
            rep["backtest"] = rolling_backtest(series, freq=freq, horizon=min(horizon, max(len(series) // (folds + 2), 1)), n_origins=folds,
                                              interval=interval, intervals=intervals, transform=transform)
        if coverage:
            h = min(horizon, max(len(series) // 4, 1))
            cov = rolling_coverage(series, freq=freq, horizon=h, step=max(h // 2, 1), transform=transform, intervals=intervals)
            rep["coverage_backtest"] = {**cov, "coverage": {str(k): v for k, v in cov["coverage"].items()},
                                        "mean_width": {str(k): v for k, v in cov["mean_width"].items()}}
        if as_json:
            emit(rep, True)
            return
        if "coverage_backtest" in rep:
            c = rep["coverage_backtest"]
            emit({"origins": c["origins"], "horizon": c["horizon"], **{f"coverage_{k}": v for k, v in c["coverage"].items()},
                  **{k: c[k] for k in ("mape", "smape", "mape_seasonal_naive", "smape_seasonal_naive")}}, False, title="interval coverage (rolling origins)")
        if "backtest" in rep:
            emit({k: v for k, v in rep["backtest"].items() if k != "folds"}, False, title="rolling-origin backtest")
        emit(rep["forecast"], False, title=f"revenue forecast ({freq}, {int(interval * 100)}% interval)")
