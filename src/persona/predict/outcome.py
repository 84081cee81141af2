"""Binary customer outcomes over a horizon (churn, purchase propensity), backtested in time."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from persona.errors import InputError, NotFittedError
from persona.persistence import load_estimator, save_estimator
from persona.predict.backtest import (
    BacktestPlan,
    Eligibility,
    FeatureCache,
    Labeler,
    ModelMatrix,
    buyers,
    everyone,
    label_category,
    label_churn,
    label_purchase,
    plan_backtest,
    stacked,
)
from persona.predict.classifier import CalibratedGBM, classification_metrics
from persona.profiles.source import ShopData

log = logging.getLogger(__name__)

# Plain-language direction of each feature for explanations.
FEATURE_LABELS = {
    "recency_days": "days since last purchase",
    "frequency": "number of orders",
    "monetary": "total spend",
    "avg_order_value": "average order value",
    "tenure_days": "days as a customer",
    "mean_interpurchase_days": "days between orders",
    "orders_30d": "orders in the last 30 days",
    "orders_90d": "orders in the last 90 days",
    "revenue_90d": "spend in the last 90 days",
    "events_30d": "site activity in the last 30 days",
    "n_views": "product views",
    "n_carts": "add-to-carts",
    "email_open_rate": "e-mail open rate",
    "email_click_rate": "e-mail click rate",
    "discount_share": "share of discounted purchases",
    "price_index": "price paid vs category median",
}


def factor_text(f: dict[str, Any], outcome: str) -> str:
    """"days since last purchase = 143 raises churn" style text for one SHAP factor."""
    label = FEATURE_LABELS.get(f["feature"], f["feature"].replace("_", " "))
    val = "missing" if f["value"] is None else f"{f['value']:,.3g}"
    return f"{label} = {val} {'raises' if f['contribution'] > 0 else 'lowers'} {outcome}"


class OutcomeModel:
    """Base of the binary outcome models: backtest, final fit, scoring with explanations.

    Args:
        horizon_days: length N of the label window (t, t + N].
        n_train_cutoffs: number of training cutoffs (spaced ``step_days`` apart).
        step_days: spacing of the cutoffs.
        seed: seed of the booster.
    """

    name = "outcome"
    outcome = "the outcome"
    baseline_feature = "recency_days"
    baseline_sign = 1.0

    def __init__(self, horizon_days: int = 30, n_train_cutoffs: int = 3, step_days: int = 30, seed: int = 42) -> None:
        self.horizon_days = horizon_days
        self.n_train_cutoffs = n_train_cutoffs
        self.step_days = step_days
        self.seed = seed

    # subclasses define what is predicted and for whom
    def labeler(self) -> Labeler:
        raise NotImplementedError

    def eligible(self) -> Eligibility:
        return everyone

    def _fit_gbm(self, cache: FeatureCache, cutoffs: tuple[pd.Timestamp, ...]) -> CalibratedGBM:
        x, y, keys = stacked(cache, cutoffs, self.horizon_days, self.labeler(), self.eligible(), self.matrix_)
        return CalibratedGBM(seed=self.seed).fit(x, y, keys["customer_id"])

    def fit(self, data: ShopData, as_of: pd.Timestamp | None = None, cache: FeatureCache | None = None) -> OutcomeModel:
        """Backtest (train on earlier cutoffs, test on the latest labelled one), then fit the final model.

        Raises:
            InputError: too little history, or labels of one class only.
        """
        if not isinstance(self.n_train_cutoffs, int) or self.n_train_cutoffs < 1:
            raise InputError(f"n_train_cutoffs must be an integer >= 1, got {self.n_train_cutoffs!r}")
        cache = cache or FeatureCache(data)
        plan: BacktestPlan = plan_backtest(data, self.horizon_days, n_train=self.n_train_cutoffs, step_days=self.step_days, as_of=as_of)
        self.plan_ = plan
        self.matrix_ = ModelMatrix().fit(cache.at(plan.test), data)
        bt = self._fit_gbm(cache, plan.train)
        xt, yt, kt = stacked(cache, (plan.test,), self.horizon_days, self.labeler(), self.eligible(), self.matrix_)
        p = bt.predict_proba(xt)
        self.backtest_scores_ = pd.DataFrame({"customer_id": kt["customer_id"].to_numpy(), "y": yt.to_numpy(dtype=int), "p": p})
        metrics = classification_metrics(yt.to_numpy(), p)
        metrics["brier_uncalibrated"] = round(float(np.mean((bt.raw_proba(xt) - yt.to_numpy()) ** 2)), 4)
        base = xt[self.baseline_feature].fillna(xt[self.baseline_feature].max() + 1)  # never bought: oldest
        metrics["baseline"] = {"feature": self.baseline_feature, **{k: v for k, v in classification_metrics(yt.to_numpy(), self.baseline_sign * base.to_numpy()).items() if k in ("auc", "pr_auc", "lift_top_decile")}}
        metrics["calibration"] = bt.calibration_used_
        metrics["train_rows"] = int(sum(len(cache.at(t)[self.eligible()(cache.at(t))]) for t in plan.train))
        self.backtest_ = metrics
        self.model_ = self._fit_gbm(cache, plan.final)
        self.importance_ = self.model_.importance()
        log.info("model=%s horizon=%d auc=%s pr_auc=%s", self.name, self.horizon_days, metrics.get("auc"), metrics.get("pr_auc"))
        return self

    def predict(
        self, data: ShopData, as_of: pd.Timestamp | None = None, cache: FeatureCache | None = None, top_factors: int = 3, explain: int | None = None
    ) -> pd.DataFrame:
        """Calibrated probability per eligible customer as of ``as_of`` (default: the newest event), with its top factors.

        Args:
            explain: explain only the ``explain`` highest-scored customers (None: everyone); the others get
                an empty factor list. SHAP contributions cost far more than scores.

        Returns:
            Frame indexed by ``customer_id`` with ``probability`` and ``factors`` (list of dicts, with text).
        """
        if not hasattr(self, "model_"):
            raise NotFittedError(self)
        cache = cache or FeatureCache(data)
        t = as_of if as_of is not None else self.plan_.as_of
        f = cache.at(t)
        keep = self.eligible()(f).to_numpy()
        f = f[keep]
        x = cache.matrix(t, self.matrix_)[keep]
        prob = self.model_.predict_proba(x) if len(x) else np.zeros(0)
        factors: list[list[dict[str, Any]]] = [[] for _ in range(len(x))]
        if len(x):
            rows = np.arange(len(x)) if explain is None else np.argsort(-prob, kind="stable")[: max(0, explain)]
            if len(rows):
                for i, fs in zip(rows, self.model_.explain(x.iloc[rows], top_factors), strict=True):
                    factors[i] = fs
        for fs in factors:
            for fac in fs:
                fac["text"] = factor_text(fac, self.outcome)
        return pd.DataFrame({"probability": prob, "factors": factors}, index=f.index)

    def report(self) -> dict[str, Any]:
        """Backtest metrics, plan and feature importance (for the CLI, the report and the registry)."""
        if not hasattr(self, "backtest_"):
            raise NotFittedError(self)
        return {"model": self.name, "horizon_days": self.horizon_days, "backtest": self.backtest_, "plan": self.plan_.describe(),
                "importance": self.importance_[:12]}

    def save(self, path: Path) -> Path:
        """Write the fitted model with joblib."""
        if not hasattr(self, "model_"):
            raise NotFittedError(self)
        return save_estimator(self, path)

    @classmethod
    def load(cls, path: Path) -> OutcomeModel:
        """Read a model written by :meth:`save`."""
        return load_estimator(cls, path)


class ChurnModel(OutcomeModel):
    """P(no purchase in the next ``horizon_days``) for customers who have bought before (default 90 days)."""

    name = "churn_probability"
    outcome = "churn risk"
    baseline_feature = "recency_days"
    baseline_sign = 1.0

    def __init__(self, horizon_days: int = 90, n_train_cutoffs: int = 3, step_days: int = 30, seed: int = 42) -> None:
        super().__init__(horizon_days, n_train_cutoffs, step_days, seed)

    def labeler(self) -> Labeler:
        return label_churn

    def eligible(self) -> Eligibility:
        return buyers


class PropensityModel(OutcomeModel):
    """P(a purchase in the next ``horizon_days``), overall or in one top-level ``category`` (default 30 days)."""

    baseline_feature = "recency_days"
    baseline_sign = -1.0

    def __init__(self, horizon_days: int = 30, category: str | None = None, n_train_cutoffs: int = 3, step_days: int = 30, seed: int = 42) -> None:
        super().__init__(horizon_days, n_train_cutoffs, step_days, seed)
        self.category = category

    @property
    def name(self) -> str:  # type: ignore[override]
        return "purchase_propensity" if self.category is None else f"propensity_{slug(self.category)}"

    @property
    def outcome(self) -> str:  # type: ignore[override]
        return "purchase propensity" if self.category is None else f"propensity to buy {self.category}"

    def labeler(self) -> Labeler:
        return label_purchase if self.category is None else label_category(self.category)


def slug(text: str) -> str:
    """A prediction-name-safe form of a category ("Baby & Kids" → "baby_kids")."""
    out = "".join(ch.lower() if ch.isalnum() else "_" for ch in str(text))
    return "_".join(p for p in out.split("_") if p)[:40] or "category"
