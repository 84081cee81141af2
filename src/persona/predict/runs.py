"""Running the churn, propensity and spend models on a shop and storing their predictions."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from persona.predict.backtest import FeatureCache, purchase_category_counts, ranked_names
from persona.predict.outcome import ChurnModel, OutcomeModel, PropensityModel
from persona.predict.repository import save_predictions
from persona.predict.spend import SpendRegression
from persona.profiles.source import ShopData
from persona.registry import register
from persona.store import Store

log = logging.getLogger(__name__)


def top_categories(data: ShopData, k: int = 5) -> list[str]:
    """The ``k`` top-level categories with the most purchase lines (ties by name), counted by the shop's engine."""
    return ranked_names(purchase_category_counts(data))[:k]


def _top_rows(pred: pd.DataFrame, column: str, n: int) -> list[dict[str, Any]]:
    top = pred.sort_values(column, ascending=False).head(n)
    rows = []
    for cid, r in top.iterrows():
        row = {"customer_id": cid, column: round(float(r[column]), 4)}
        if "factors" in r:
            row["why"] = "; ".join(f["text"] for f in r["factors"])
        rows.append(row)
    return rows


def run_outcome(model: OutcomeModel, data: ShopData, store: Store | None, cache: FeatureCache, top: int = 10, explain: int | None = None,
                fitted: dict[str, OutcomeModel] | None = None) -> dict[str, Any]:
    """Fit (backtest included), score everyone eligible and, with a store, save predictions and the model.

    Args:
        explain: explain only this many top-scored customers (None: all).
        fitted: receives the fitted model under its name (e.g. for the fairness audit of its backtest).
    """
    model.fit(data, cache=cache)
    if fitted is not None:
        fitted[model.name] = model
    pred = model.predict(data, cache=cache, explain=explain)
    report = model.report()
    if store is not None:
        version = register(store, model.name, "churn" if isinstance(model, ChurnModel) else "propensity", model,
                           {"horizon_days": model.horizon_days}, report["backtest"], activate=True).version
        save_predictions(store, model.name, pred["probability"], [{"top_factors": f} for f in pred["factors"]], version)
        report["model_version"] = version
    report["scored"] = int(len(pred))
    report["top_customers"] = _top_rows(pred, "probability", top)
    return report


def run_churn(data: ShopData, store: Store | None = None, *, horizon_days: int = 90, seed: int = 42, cache: FeatureCache | None = None, top: int = 10,
              fitted: dict[str, OutcomeModel] | None = None) -> dict[str, Any]:
    """Churn model: backtest metrics, importance, top customers at risk; predictions ``churn_probability``."""
    return run_outcome(ChurnModel(horizon_days=horizon_days, seed=seed), data, store, cache or FeatureCache(data), top, fitted=fitted)


def run_propensity(
    data: ShopData,
    store: Store | None = None,
    *,
    horizon_days: int = 30,
    n_categories: int = 5,
    seed: int = 42,
    cache: FeatureCache | None = None,
    top: int = 10,
    explain_categories: int | None = 500,
    fitted: dict[str, OutcomeModel] | None = None,
) -> dict[str, Any]:
    """Overall and per-category purchase propensity; predictions ``purchase_propensity`` and ``propensity_<category>``.

    Args:
        explain_categories: per-category models explain only their top-scored customers (None: all).
        fitted: receives the overall model under its name (see :func:`run_outcome`).
    """
    cache = cache or FeatureCache(data)
    overall = run_outcome(PropensityModel(horizon_days=horizon_days, seed=seed), data, store, cache, top, fitted=fitted)
    per_cat = {}
    for c in top_categories(data, n_categories):
        m = PropensityModel(horizon_days=horizon_days, category=c, seed=seed)
        try:
            per_cat[c] = run_outcome(m, data, store, cache, top=3, explain=explain_categories)
        except Exception as exc:  # noqa: BLE001 - one rare category must not lose the others
            log.warning("propensity category=%s skipped: %s", c, exc)
            per_cat[c] = {"model": m.name, "error": str(exc)}
    overall["categories"] = per_cat
    return overall


def run_spend(data: ShopData, store: Store | None = None, *, horizon_days: int = 90, seed: int = 42, cache: FeatureCache | None = None, top: int = 10) -> dict[str, Any]:
    """Spend regression: backtest R²/MAE, coefficients; predictions ``predicted_spend``."""
    cache = cache or FeatureCache(data)
    model = SpendRegression(horizon_days=horizon_days, seed=seed).fit(data, cache=cache)
    pred = model.predict(data, cache=cache)
    report = model.report()
    if store is not None:
        version = register(store, model.name, "spend", model, {"horizon_days": horizon_days}, report["backtest"],
                           activate=True).version
        save_predictions(store, model.name, pred["spend"], None, version)
        report["model_version"] = version
    report["scored"] = int(len(pred))
    report["top_customers"] = _top_rows(pred, "spend", top)
    return report
