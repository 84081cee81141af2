"""``persona predict next-purchase``: each customer's probability of buying soon and median next purchase date."""

from __future__ import annotations

from typing import Annotated

import typer

from persona.cli._common import JsonOpt, WorkspaceOpt, emit


def register_predict(app: typer.Typer) -> None:
    """Add ``predict next-purchase`` to the ``predict`` group."""

    @app.command("next-purchase")
    def next_purchase(
        window_days: Annotated[int, typer.Option("--window-days", help="Window of P(purchase).", min=1, max=730)] = 30,
        top: Annotated[int, typer.Option("--top", help="Customers to list.", min=0)] = 10,
        workspace: WorkspaceOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """BG/NBD posterior next purchase per customer, stored as p_purchase_{N}d and days_to_next_purchase."""
        import pandas as pd

        from persona.cli.profiles import open_workspace_store
        from persona.predict.clv_workspace import load_purchases
        from persona.predict.next_purchase import backtest_next_purchase, predict_next_purchase
        from persona.predict.repository import save_predictions

        store = open_workspace_store(workspace)
        try:
            tx = load_purchases(store)
            end = tx["date"].max().normalize()
            pred = predict_next_purchase(tx, end, window_days=window_days)
            save_predictions(store, f"p_purchase_{window_days}d", pred["p_purchase_window"])
            save_predictions(store, "days_to_next_purchase", pred["median_days_to_next"],
                             details=[{"next_purchase_date": str(d.date())} for d in pred["next_purchase_date"]])
            first = tx["date"].min().normalize()
            cut = end - pd.Timedelta(days=window_days)
            bt = backtest_next_purchase(tx, cut, window_days=window_days) if cut > first + pd.Timedelta(days=30) else None
        finally:
            store.dispose()
        topn = pred.sort_values("p_purchase_window", ascending=False).head(top)
        rep = {"as_of": str(end.date()), "window_days": window_days, "n_customers": len(pred), "params": pred.attrs["params"],
               "backtest": bt, "top_customers": [{"customer_id": i, "p_alive": r.p_alive, "p_purchase_window": r.p_purchase_window,
                                                  "next_purchase_date": str(r.next_purchase_date.date())} for i, r in topn.iterrows()]}
        if as_json:
            emit(rep, True)
            return
        if bt:
            emit(bt, False, title=f"backtest at {bt['cutoff']}")
        emit(rep["top_customers"], False, title=f"most likely to buy within {window_days} days")
