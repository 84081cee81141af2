"""Meta-learners for the conditional average treatment effect (uplift) on a binary or numeric outcome.

Each learner wraps any scikit-learn-compatible model(s): classifiers are read through
``predict_proba(X)[:, 1]``, regressors through ``predict``. They follow scikit-learn: parameters in
``__init__``, validation in ``fit(X, treatment, y)`` which returns self, learned state ending in ``_``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone

from persona.errors import InputError, NotFittedError
from persona.persistence import load_estimator, save_estimator


def _predict(model: Any, X: Any) -> np.ndarray:
    if hasattr(model, "predict_proba"):
        return np.asarray(model.predict_proba(X))[:, 1]
    return np.asarray(model.predict(X), dtype=float)


def _check_xty(X: Any, treatment: Any, y: Any) -> tuple[Any, np.ndarray, np.ndarray]:
    t = np.asarray(treatment)
    yy = np.asarray(y, dtype=float)
    n = X.shape[0] if hasattr(X, "shape") else len(X)
    if not (len(t) == len(yy) == n):
        raise InputError(f"X, treatment and y must have the same length, got {n}, {len(t)}, {len(yy)}")
    vals = set(np.unique(t).tolist())
    if not vals <= {0, 1}:
        raise InputError(f"treatment must be 0/1, got values {sorted(map(str, vals))[:5]}",
                         hint="encode the treated arm as 1 and the control as 0")
    if len(vals) < 2:
        raise InputError("treatment has a single value: uplift needs treated and control customers")
    if np.isnan(yy).any():
        raise InputError("y has missing values")
    return X, t.astype(int), yy


def _rows(X: Any, mask: np.ndarray) -> Any:
    return X.loc[mask] if isinstance(X, pd.DataFrame) else X[mask]


def _with_treatment(X: Any, t: np.ndarray | int, interactions: bool) -> Any:
    n = X.shape[0]
    tt = np.full(n, t, dtype=float) if np.isscalar(t) else np.asarray(t, dtype=float)
    if isinstance(X, pd.DataFrame):
        out = X.copy()
        if interactions:
            for c in X.columns:
                out[f"{c}__x_treatment"] = X[c].to_numpy(dtype=float) * tt
        out["__treatment"] = tt
        return out
    Xa = np.asarray(X, dtype=float)
    parts = [Xa, tt[:, None]]
    if interactions:
        parts.insert(1, Xa * tt[:, None])
    return np.hstack(parts)


class UpliftLearner(BaseEstimator):
    """Common behaviour: fitted check, save/load, ``predict`` as an alias of ``predict_uplift``."""

    def _check_fitted(self) -> None:
        if not getattr(self, "fitted_", False):
            raise NotFittedError(self)

    def predict(self, X: Any) -> np.ndarray:
        """Alias of :meth:`predict_uplift`."""
        return self.predict_uplift(X)

    def predict_uplift(self, X: Any) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def save(self, path: str | Path) -> Path:
        """Pickle the fitted learner to ``path``."""
        self._check_fitted()
        return save_estimator(self, path)

    @classmethod
    def load(cls, path: str | Path) -> UpliftLearner:
        """Load a learner saved with :meth:`save` (trusted files only: it unpickles)."""
        return load_estimator(cls, path)


class SLearner(UpliftLearner):
    """One model on covariates plus the treatment flag; uplift = f(x, 1) - f(x, 0).

    Args:
        model: a classifier or regressor.
        interactions: also feed covariate × treatment products (helps linear models see heterogeneity).
    """

    def __init__(self, model: Any, interactions: bool = False) -> None:
        self.model = model
        self.interactions = interactions

    def fit(self, X: Any, treatment: Any, y: Any) -> SLearner:
        X, t, y = _check_xty(X, treatment, y)
        self.model_ = clone(self.model).fit(_with_treatment(X, t, self.interactions), y)
        self.fitted_ = True
        return self

    def predict_uplift(self, X: Any) -> np.ndarray:
        self._check_fitted()
        return _predict(self.model_, _with_treatment(X, 1, self.interactions)) - _predict(
            self.model_, _with_treatment(X, 0, self.interactions))


class TLearner(UpliftLearner):
    """Two models, one per arm; uplift = f_treated(x) - f_control(x).

    Args:
        model: model for the treated arm (and for control when ``model_control`` is None).
        model_control: optional separate model for the control arm.
        method: "vanilla", or "ddr_control" (dependent data representation, Betlei et al. 2018: the treated
            model also sees the control model's prediction as a feature).
    """

    def __init__(self, model: Any, model_control: Any = None, method: str = "vanilla") -> None:
        self.model = model
        self.model_control = model_control
        self.method = method

    @staticmethod
    def _augment(X: Any, extra: np.ndarray) -> Any:
        if isinstance(X, pd.DataFrame):
            return X.assign(__ddr_control=extra)
        return np.hstack([np.asarray(X, dtype=float), extra[:, None]])

    def fit(self, X: Any, treatment: Any, y: Any) -> TLearner:
        if self.method not in ("vanilla", "ddr_control"):
            raise InputError(f"method must be 'vanilla' or 'ddr_control', got {self.method!r}")
        X, t, y = _check_xty(X, treatment, y)
        self.model_control_ = clone(self.model_control if self.model_control is not None else self.model).fit(
            _rows(X, t == 0), y[t == 0])
        X1 = _rows(X, t == 1)
        if self.method == "ddr_control":
            X1 = self._augment(X1, _predict(self.model_control_, X1))
        self.model_treatment_ = clone(self.model).fit(X1, y[t == 1])
        self.fitted_ = True
        return self

    def predict_uplift(self, X: Any) -> np.ndarray:
        self._check_fitted()
        base = _predict(self.model_control_, X)
        Xt = self._augment(X, base) if self.method == "ddr_control" else X
        return _predict(self.model_treatment_, Xt) - base


class ClassTransformation(UpliftLearner):
    """Class-variable transformation (Jaskowski & Jaroszewicz 2012): learn Z = 1{y == t}; uplift = 2 P(Z) - 1.

    The identity needs P(t = 1) = 1/2; with ``balance=True`` (default) samples are reweighted so that both
    arms weigh the same, which keeps it valid for unbalanced experiments (e.g. 2/3 treated).
    Binary outcomes only.

    Args:
        model: a classifier with ``predict_proba`` (and ``sample_weight`` in fit when balancing).
        balance: reweight arms to equal total weight.
    """

    def __init__(self, model: Any, balance: bool = True) -> None:
        self.model = model
        self.balance = balance

    def fit(self, X: Any, treatment: Any, y: Any) -> ClassTransformation:
        X, t, y = _check_xty(X, treatment, y)
        if not set(np.unique(y)) <= {0.0, 1.0}:
            raise InputError("ClassTransformation needs a binary outcome", hint="use TLearner or XLearner for revenue")
        z = (y == t).astype(int)
        model = clone(self.model)
        if self.balance:
            p = t.mean()
            w = np.where(t == 1, 0.5 / p, 0.5 / (1 - p))
            key = f"{model.steps[-1][0]}__sample_weight" if hasattr(model, "steps") else "sample_weight"
            model.fit(X, z, **{key: w})
        else:
            model.fit(X, z)
        self.model_ = model
        self.fitted_ = True
        return self

    def predict_uplift(self, X: Any) -> np.ndarray:
        self._check_fitted()
        return 2.0 * np.asarray(self.model_.predict_proba(X))[:, 1] - 1.0


class XLearner(UpliftLearner):
    """X-learner (Künzel et al. 2019): impute individual effects with the other arm's model, regress them,
    and blend the two effect models by the propensity.

    Args:
        model: outcome model (classifier or regressor) for both arms.
        effect_model: regressor fitted on imputed effects.
        propensity_model: classifier for P(t = 1 | x); default: the constant share of treated customers
            (right for a randomised experiment).
    """

    def __init__(self, model: Any, effect_model: Any, propensity_model: Any = None) -> None:
        self.model = model
        self.effect_model = effect_model
        self.propensity_model = propensity_model

    def fit(self, X: Any, treatment: Any, y: Any) -> XLearner:
        X, t, y = _check_xty(X, treatment, y)
        X1, X0 = _rows(X, t == 1), _rows(X, t == 0)
        mu1 = clone(self.model).fit(X1, y[t == 1])
        mu0 = clone(self.model).fit(X0, y[t == 0])
        d1 = y[t == 1] - _predict(mu0, X1)
        d0 = _predict(mu1, X0) - y[t == 0]
        self.tau1_ = clone(self.effect_model).fit(X1, d1)
        self.tau0_ = clone(self.effect_model).fit(X0, d0)
        self.models_ = (mu0, mu1)
        if self.propensity_model is not None:
            self.propensity_ = clone(self.propensity_model).fit(X, t)
        else:
            self.propensity_ = float(t.mean())
        self.fitted_ = True
        return self

    def predict_uplift(self, X: Any) -> np.ndarray:
        self._check_fitted()
        g = self.propensity_ if isinstance(self.propensity_, float) else _predict(self.propensity_, X)
        return g * np.asarray(self.tau0_.predict(X)) + (1 - g) * np.asarray(self.tau1_.predict(X))


class UpliftEnsemble(UpliftLearner):
    """Average of several uplift learners' predictions (same units: uplift), which lowers variance.

    Args:
        learners: uplift learners (unfitted); each is cloned and fitted on the same data.
    """

    def __init__(self, learners: list[Any]) -> None:
        self.learners = learners

    def fit(self, X: Any, treatment: Any, y: Any) -> UpliftEnsemble:
        if not self.learners:
            raise InputError("UpliftEnsemble needs at least one learner")
        X, t, y = _check_xty(X, treatment, y)
        self.learners_ = [clone(m).fit(X, t, y) for m in self.learners]
        self.fitted_ = True
        return self

    def predict_uplift(self, X: Any) -> np.ndarray:
        self._check_fitted()
        return np.mean([m.predict_uplift(X) for m in self.learners_], axis=0)


class DRLearner(UpliftLearner):
    """Doubly robust learner (Kennedy 2020) with cross-fitting: regress the AIPW pseudo-outcome on covariates.

    Pseudo-outcome: mu1 - mu0 + t (y - mu1) / e - (1 - t) (y - mu0) / (1 - e), with outcome models mu
    and propensity e fitted on the other folds; ``effect_model`` is then fitted on all pseudo-outcomes.

    Args:
        model: outcome model (classifier or regressor).
        effect_model: regressor for the pseudo-outcome.
        propensity_model: classifier for P(t = 1 | x); default: the treated share (a randomised experiment).
        n_folds: cross-fitting folds.
        clip: propensities are clipped to [clip, 1 - clip].
        seed: fold assignment seed.
    """

    def __init__(self, model: Any, effect_model: Any, propensity_model: Any = None, n_folds: int = 3,
                 clip: float = 0.01, seed: int = 0) -> None:
        self.model = model
        self.effect_model = effect_model
        self.propensity_model = propensity_model
        self.n_folds = n_folds
        self.clip = clip
        self.seed = seed

    def fit(self, X: Any, treatment: Any, y: Any) -> DRLearner:
        if self.n_folds < 2:
            raise InputError(f"n_folds must be >= 2, got {self.n_folds}")
        X, t, y = _check_xty(X, treatment, y)
        from sklearn.model_selection import StratifiedKFold

        pseudo = np.empty(len(y))
        folds = StratifiedKFold(self.n_folds, shuffle=True, random_state=self.seed).split(np.zeros(len(y)), t * 2 + (y > 0))
        for train, test in folds:
            Xa, ta, ya = _rows(X, _mask(len(y), train)), t[train], y[train]
            Xb = _rows(X, _mask(len(y), test))
            mu1 = _predict(clone(self.model).fit(_rows(Xa, ta == 1), ya[ta == 1]), Xb)
            mu0 = _predict(clone(self.model).fit(_rows(Xa, ta == 0), ya[ta == 0]), Xb)
            e = (_predict(clone(self.propensity_model).fit(Xa, ta), Xb) if self.propensity_model is not None
                 else np.full(len(test), ta.mean()))
            e = np.clip(e, self.clip, 1 - self.clip)
            tb, yb = t[test], y[test]
            pseudo[test] = mu1 - mu0 + tb * (yb - mu1) / e - (1 - tb) * (yb - mu0) / (1 - e)
        self.effect_model_ = clone(self.effect_model).fit(X, pseudo)
        self.fitted_ = True
        return self

    def predict_uplift(self, X: Any) -> np.ndarray:
        self._check_fitted()
        return np.asarray(self.effect_model_.predict(X), dtype=float)


def _mask(n: int, idx: np.ndarray) -> np.ndarray:
    m = np.zeros(n, dtype=bool)
    m[idx] = True
    return m
