"""``SpendRegression``: next-period spend from profile features, a standardized linear baseline.

Interpretable on purpose: each coefficient is the change in predicted spend for one standard deviation
of a feature. Backtested like the classifiers (features at cutoff t, spend in (t, t + N]).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression
from sklearn.metrics import mean_absolute_error, r2_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from persona.errors import InputError, NotFittedError
from persona.persistence import load_estimator, save_estimator
from persona.predict.backtest import FeatureCache, ModelMatrix, everyone, label_spend, plan_backtest, stacked
from persona.profiles.source import ShopData


def _regression_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    return {"n": int(len(y)), "r2": round(float(r2_score(y, p)), 4), "mae": round(float(mean_absolute_error(y, p)), 4),
            "rmse": round(float(np.sqrt(np.mean((y - p) ** 2))), 4), "mean_actual": round(float(np.mean(y)), 4)}


class SpendRegression:
    """Linear regression of spend in the next ``horizon_days`` on standardized profile features.

    Args:
        horizon_days: the spend window N.
        n_train_cutoffs, step_days: training cutoffs of the backtest.
        clip_negative: predict 0 instead of negative spend.
    """

    name = "predicted_spend"

    def __init__(self, horizon_days: int = 90, n_train_cutoffs: int = 3, step_days: int = 30, clip_negative: bool = True, seed: int = 42) -> None:
        self.horizon_days = horizon_days
        self.n_train_cutoffs = n_train_cutoffs
        self.step_days = step_days
        self.clip_negative = clip_negative
        self.seed = seed

    def _pipeline(self) -> Any:
        return make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True), StandardScaler(), LinearRegression())

    def _fit_on(self, cache: FeatureCache, cutoffs: tuple[pd.Timestamp, ...]) -> Any:
        x, y, _ = stacked(cache, cutoffs, self.horizon_days, label_spend, everyone, self.matrix_)
        return self._pipeline().fit(x, y.to_numpy(float))

    def _predict_with(self, model: Any, x: pd.DataFrame) -> np.ndarray:
        p = model.predict(x)
        return np.maximum(p, 0.0) if self.clip_negative else p

    def fit(self, data: ShopData, as_of: pd.Timestamp | None = None, cache: FeatureCache | None = None) -> SpendRegression:
        """Backtest on the latest labelled cutoff, then refit on the most recent cutoffs.

        Raises:
            InputError: too little history.
        """
        if not isinstance(self.n_train_cutoffs, int) or self.n_train_cutoffs < 1:
            raise InputError(f"n_train_cutoffs must be an integer >= 1, got {self.n_train_cutoffs!r}")
        cache = cache or FeatureCache(data)
        plan = plan_backtest(data, self.horizon_days, n_train=self.n_train_cutoffs, step_days=self.step_days, as_of=as_of)
        self.plan_ = plan
        self.matrix_ = ModelMatrix().fit(cache.at(plan.test), data)
        bt = self._fit_on(cache, plan.train)
        xt, yt, _ = stacked(cache, (plan.test,), self.horizon_days, label_spend, everyone, self.matrix_)
        y = yt.to_numpy(float)
        metrics = _regression_metrics(y, self._predict_with(bt, xt))
        # The naive baseline a marketer would use: the last 90 days' spend, scaled to the horizon.
        naive = xt["revenue_90d"].fillna(0.0).to_numpy() * self.horizon_days / 90.0
        metrics["baseline"] = {"rule": "last 90 days' spend scaled to the horizon", **_regression_metrics(y, naive)}
        self.backtest_ = metrics
        self.model_ = self._fit_on(cache, plan.final)
        return self

    def coefficients(self) -> list[dict[str, Any]]:
        """Coefficient per feature (currency per standard deviation), largest magnitude first."""
        if not hasattr(self, "model_"):
            raise NotFittedError(self)
        lin = self.model_[-1]
        names = list(self.model_[0].get_feature_names_out(self.matrix_.columns_))
        rows = [{"feature": f, "coefficient": round(float(c), 4)} for f, c in zip(names, lin.coef_, strict=True)]
        return sorted(rows, key=lambda r: -abs(r["coefficient"]))

    def predict(self, data: ShopData, as_of: pd.Timestamp | None = None, cache: FeatureCache | None = None) -> pd.DataFrame:
        """Predicted spend per customer over the horizon, as of ``as_of`` (default: the newest event)."""
        if not hasattr(self, "model_"):
            raise NotFittedError(self)
        cache = cache or FeatureCache(data)
        f = cache.at(as_of if as_of is not None else self.plan_.as_of)
        x = self.matrix_.transform(f)
        return pd.DataFrame({"spend": self._predict_with(self.model_, x) if len(x) else np.zeros(0)}, index=f.index)

    def report(self) -> dict[str, Any]:
        """Backtest metrics, plan, intercept and coefficients."""
        if not hasattr(self, "backtest_"):
            raise NotFittedError(self)
        return {"model": self.name, "horizon_days": self.horizon_days, "backtest": self.backtest_, "plan": self.plan_.describe(),
                "intercept": round(float(self.model_[-1].intercept_), 4), "coefficients": self.coefficients()}

    def save(self, path: Path) -> Path:
        """Write the fitted model with joblib."""
        if not hasattr(self, "model_"):
            raise NotFittedError(self)
        return save_estimator(self, path)

    @classmethod
    def load(cls, path: Path) -> SpendRegression:
        """Read a model written by :meth:`save`."""
        return load_estimator(cls, path)
