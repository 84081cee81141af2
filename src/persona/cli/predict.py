"""``persona predict churn|propensity|spend``: backtested customer predictions, stored per customer.

Other prediction commands join this group from their own modules: a module listed in ``EXTENSIONS``
that defines ``register_predict(app)`` adds its subcommands (``clv``, ``forecast``, ``next-purchase``).
"""

from __future__ import annotations

import importlib
from typing import Annotated, Any

import typer

from persona.cli._common import JsonOpt, WorkspaceOpt, console, emit
from persona.cli.profiles import busy, open_workspace_store

app = typer.Typer(help="Predictions: churn, purchase propensity, spend (and CLV, forecast, next purchase).", no_args_is_help=True)
EXTENSIONS = ("persona.cli.clv", "persona.cli.forecast", "persona.cli.next_purchase")
HorizonOpt = Annotated[int | None, typer.Option("--horizon-days", help="Prediction window in days.", min=1, max=3650)]
TopOpt = Annotated[int, typer.Option("--top", help="Customers to list.", min=0)]


def _run(kind: str, workspace: Any, as_json: bool, **kw: Any) -> dict[str, Any]:
    from persona.predict import runs
    from persona.profiles import load_shop

    store = open_workspace_store(workspace)
    try:
        data = load_shop(store)
        fn = {"churn": runs.run_churn, "propensity": runs.run_propensity, "spend": runs.run_spend}[kind]
        with busy(f"training and backtesting the {kind} model…", as_json, store.settings):
            return fn(data, store, seed=store.settings.seed, **kw)
    finally:
        store.dispose()


def _show(rep: dict[str, Any], as_json: bool, value: str) -> None:
    if as_json:
        emit(rep, True)
        return
    emit(dict(rep["backtest"]), False, title=f"{rep['model']}: backtest at {rep['plan']['test_cutoff'][:10]} "
         f"(horizon {rep['horizon_days']} days)")
    if "importance" in rep:
        emit(rep["importance"][:8], False, title="feature importance (gain)")
    if "coefficients" in rep:
        emit(rep["coefficients"][:10], False, title=f"coefficients per standard deviation (intercept {rep['intercept']})")
    for r in rep.get("categories", {}).values():
        bt = r.get("backtest", {})
        console.print(f"{r.get('model')}: AUC {bt.get('auc')}  PR-AUC {bt.get('pr_auc')}  lift@10% {bt.get('lift_top_decile')}  " + (r.get("error") or ""))
    emit(rep["top_customers"], False, title=f"top customers by {value}")


@app.command("churn")
def churn(horizon_days: HorizonOpt = None, top: TopOpt = 10, workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Churn (no purchase in the next N days, default 90): backtest, importance, customers most at risk."""
    _show(_run("churn", workspace, as_json, horizon_days=horizon_days or 90, top=top), as_json, "churn probability")


@app.command("propensity")
def propensity(
    horizon_days: HorizonOpt = None,
    categories: Annotated[int, typer.Option("--categories", help="Top-level categories with their own model.", min=0)] = 5,
    top: TopOpt = 10,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Purchase propensity in the next N days (default 30), overall and per top category."""
    _show(_run("propensity", workspace, as_json, horizon_days=horizon_days or 30, n_categories=categories, top=top), as_json, "propensity")


@app.command("spend")
def spend(horizon_days: HorizonOpt = None, top: TopOpt = 10, workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Spend in the next N days (default 90): standardized linear regression, R² and MAE on the backtest."""
    _show(_run("spend", workspace, as_json, horizon_days=horizon_days or 90, top=top), as_json, "predicted spend")


def _extend() -> None:
    for name in EXTENSIONS:
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        hook = getattr(mod, "register_predict", None)
        if hook is not None:
            hook(app)


_extend()
