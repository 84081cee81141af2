"""CLV on a workspace: fit BG/NBD, Gamma-Gamma and the hybrid on the stored purchases, store per-customer predictions."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from persona.errors import InputError
from persona.predict.clv import BetaGeoModel
from persona.predict.clv_evaluate import evaluate_clv
from persona.predict.clv_gamma_gamma import GammaGammaModel
from persona.predict.clv_hybrid import HybridTransactionModel
from persona.predict.clv_purchases import PURCHASES_SQL, load_purchases, no_amounts

__all__ = ["FAST_HYBRID", "PURCHASES_SQL", "load_purchases", "run_clv", "with_amounts"]

log = logging.getLogger(__name__)
#: a lighter hybrid for workspaces (a few seconds on the demo shop)
FAST_HYBRID: dict[str, Any] = {"n_cutoffs": 6, "n_seeds": 1, "n_estimators": 200}


def with_amounts(tx: pd.DataFrame) -> pd.DataFrame:
    """``tx`` (from :func:`load_purchases`) unchanged when some purchase carries an amount: lifetime value needs them.

    Raises:
        InputError: no purchase has a positive revenue (e.g. a click log whose "buy" events carry no price).
    """
    if not (tx["revenue"] > 0).any():
        raise no_amounts(len(tx))
    return tx


def run_clv(
    store: Any,
    *,
    horizon_days: int = 365,
    annual_discount_rate: float = 0.10,
    seed: int = 42,
    backtest: bool = True,
    hybrid: bool = True,
    top: int = 10,
    purchases: Any = None,
) -> dict[str, Any]:
    """Fit the CLV models on every purchase up to the last one and store predictions per customer.

    Stored prediction names: ``clv_12m`` (or ``clv_{horizon_days}d``), ``p_alive``, ``expected_purchases_90d``.
    With ``backtest`` the models are first scored on a time split (the last third of the history held out).

    Args:
        store: the workspace store.
        horizon_days: CLV horizon; annual_discount_rate: yearly discount rate (applied monthly).
        seed: random seed; backtest: run the time-split evaluation; hybrid: use the hybrid for expected purchases.
        top: customers listed in the report.
        purchases: the store's purchases on its engine (a :class:`PurchaseLog` or the Spark engine's
            ``SparkPurchases``; default: :func:`persona.engines.open_purchases`).

    Returns:
        A report: params, log-likelihoods, backtest scores, distribution summary, top customers.

    Raises:
        InputError: no purchases, none with an amount, or a bad horizon.
    """
    if horizon_days < 1 or annual_discount_rate < 0:
        raise InputError(f"horizon_days={horizon_days}, annual_discount_rate={annual_discount_rate} are invalid", hint="horizon >= 1 day, rate >= 0")
    if purchases is None:
        from persona.engines import open_purchases

        purchases = open_purchases(store)
    history = purchases.require_amounts()
    first, end = history.days()
    report: dict[str, Any] = {"calibration_end": str(end.date()), "horizon_days": horizon_days, "n_purchases": history.count(),
                              "engine": history.engine}
    if backtest and (end - first).days >= 90:
        cut = first + (end - first) * 2 / 3
        report["backtest"] = evaluate_clv(history.transactions(), cut.normalize(), observation_end=end, seed=seed, hybrid=hybrid,
                                          hybrid_params=FAST_HYBRID)
    s = history.summary(end)  # one row per customer: on Spark only these rows reach this process
    x, r, T, m = s["frequency"], s["recency"], s["T"], s["monetary_value"]
    bg = BetaGeoModel().fit(x, r, T)
    gg = GammaGammaModel().fit(x, m)
    trans: Any = bg
    # the hybrid is used only where it beat BG/NBD on this shop's own time-split backtest
    bt_models = report.get("backtest", {}).get("models", {})
    hybrid_wins = "hybrid" in bt_models and bt_models["hybrid"]["holdout_rmse"] < bt_models["bgnbd"]["holdout_rmse"]
    if hybrid and (hybrid_wins or not backtest):
        try:
            trans = HybridTransactionModel(seed=seed, **FAST_HYBRID).fit(history.transactions(), end)
        except InputError as exc:  # history too short for rolling backtests: BG/NBD alone
            log.warning("hybrid skipped: %s", exc)
    report["model_selection"] = (
        "hybrid (beat BG/NBD on the backtest)" if type(trans).__name__ == "HybridTransactionModel" else
        "BG/NBD (the hybrid did not beat it on this shop's backtest)" if "hybrid" in bt_models else "BG/NBD"
    )
    weeks = horizon_days / 7.0
    clv = gg.customer_lifetime_value(
        trans, x, r, T, m, horizon=weeks, period=52.0 / 12.0, discount_rate=(1 + annual_discount_rate) ** (1 / 12) - 1
    )
    p_alive = bg.probability_alive(x, r, T)
    e90 = trans.conditional_expected_purchases(90 / 7.0, x, r, T)
    from persona.predict.repository import save_predictions
    from persona.registry import register

    version = register(store, "clv", "clv", {"bgnbd": bg, "gamma_gamma": gg, "transactions": trans},
                       {"bgnbd": bg.params_, "gamma_gamma": gg.params_, "transactions": type(trans).__name__},
                       {"bgnbd_log_likelihood": bg.log_likelihood_, **({"backtest": report["backtest"]["models"]} if "backtest" in report else {})},
                       activate=True).version
    clv_name = "clv_12m" if horizon_days == 365 else f"clv_{horizon_days}d"
    ids = s.index
    save_predictions(store, clv_name, pd.Series(clv, index=ids), model_version=version)
    save_predictions(store, "p_alive", pd.Series(p_alive, index=ids), model_version=version)
    save_predictions(store, "expected_purchases_90d", pd.Series(e90, index=ids), model_version=version)
    order = np.argsort(-clv)[:top]
    report.update(
        {
            "model_version": version,
            "transaction_model": type(trans).__name__,
            "bgnbd": {"params": bg.params_, "log_likelihood": bg.log_likelihood_},
            "gamma_gamma": {"params": gg.params_, "log_likelihood": gg.log_likelihood_, "n_customers": gg.n_customers_},
            "n_customers": int(len(s)),
            "clv_total": float(clv.sum()),
            "clv_quantiles": {q: float(np.quantile(clv, q)) for q in (0.1, 0.5, 0.9, 0.99)},
            "p_alive_mean": float(p_alive.mean()),
            "expected_purchases_90d_total": float(e90.sum()),
            "predictions": [clv_name, "p_alive", "expected_purchases_90d"],
            "top_customers": [
                {"customer_id": str(ids[i]), clv_name: float(clv[i]), "p_alive": float(p_alive[i]), "expected_purchases_90d": float(e90[i]),
                 "frequency": float(x.iloc[i])}
                for i in order
            ],
        }
    )
    report["_arrays"] = {"clv": clv, "p_alive": p_alive}
    return report
