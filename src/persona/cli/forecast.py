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
        workspace: WorkspaceOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Forecast revenue from the workspace's purchases; backtest against a seasonal-naive baseline."""
        from persona.cli.profiles import open_workspace_store
        from persona.errors import InputError
        from persona.predict.clv_workspace import load_purchases
        from persona.predict.forecast import RevenueForecaster, revenue_series, rolling_backtest

        if freq not in ("D", "W"):
            raise InputError(f"--freq {freq!r} is not supported", hint="use D or W")
        store = open_workspace_store(workspace)
        try:
            series = revenue_series(load_purchases(store), freq)
        finally:
            store.dispose()
        fc = RevenueForecaster(freq=freq, interval=interval).fit(series).forecast(horizon)
        rep = {"freq": freq, "horizon": horizon, "history_periods": len(series), "history_end": str(series.index[-1].date()),
               "forecast": [{"date": str(r.date.date()), "forecast": r.forecast, "lower": r.lower, "upper": r.upper} for r in fc.itertuples()]}
        if folds:
            rep["backtest"] = rolling_backtest(series, freq=freq, horizon=min(horizon, max(len(series) // (folds + 2), 1)), n_origins=folds, interval=interval)
        if as_json:
            emit(rep, True)
            return
        if "backtest" in rep:
            emit({k: v for k, v in rep["backtest"].items() if k != "folds"}, False, title="rolling-origin backtest")
        emit(rep["forecast"], False, title=f"revenue forecast ({freq}, {int(interval * 100)}% interval)")
