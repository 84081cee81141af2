"""``persona predict clv``: BG/NBD + Gamma-Gamma (+ hybrid) lifetime value per customer, stored as predictions."""

from __future__ import annotations

from typing import Annotated

import typer

from persona.cli._common import JsonOpt, WorkspaceOpt, emit


def register_predict(app: typer.Typer) -> None:
    """Add ``predict clv`` to the ``predict`` group."""

    @app.command("clv")
    def clv(
        horizon_days: Annotated[int, typer.Option("--horizon-days", help="CLV horizon in days.", min=1, max=3650)] = 365,
        discount_rate: Annotated[float, typer.Option("--discount-rate", help="Annual discount rate.", min=0.0)] = 0.10,
        no_backtest: Annotated[bool, typer.Option("--no-backtest", help="Skip the time-split evaluation.")] = False,
        top: Annotated[int, typer.Option("--top", help="Customers to list.", min=0)] = 10,
        workspace: WorkspaceOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Fit BG/NBD, Gamma-Gamma and the hybrid on the workspace's purchases; store clv_12m, p_alive, expected_purchases_90d."""
        from persona.cli.profiles import open_workspace_store
        from persona.predict.clv_workspace import run_clv

        store = open_workspace_store(workspace)
        try:
            rep = run_clv(store, horizon_days=horizon_days, annual_discount_rate=discount_rate, seed=store.settings.seed,
                          backtest=not no_backtest, top=top)
        finally:
            store.dispose()
        rep.pop("_arrays", None)
        if as_json:
            emit(rep, True)
            return
        emit({"bgnbd": rep["bgnbd"]["params"], "gamma_gamma": rep["gamma_gamma"]["params"], "transaction model": rep["transaction_model"],
              "customers": rep["n_customers"], "CLV total": rep["clv_total"], "mean P(alive)": rep["p_alive_mean"],
              "stored": rep["predictions"]}, False, title=f"CLV over {horizon_days} days (history to {rep['calibration_end']})")
        if "backtest" in rep:
            emit([{"model": k, **{m: v.get(m) for m in ("holdout_rmse", "holdout_mae", "holdout_total_predicted", "holdout_total_actual")}}
                  for k, v in rep["backtest"]["models"].items() if "holdout_rmse" in v], False,
                 title=f"backtest: calibration to {rep['backtest']['calibration_end']}, holdout to {rep['backtest']['observation_end']}")
        emit(rep["top_customers"], False, title="top customers by CLV")
