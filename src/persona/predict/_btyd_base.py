"""Shared machinery of the buy-till-you-die estimators: input checks, compressed MLE fitting, save/load."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from scipy import optimize

from persona.errors import InputError, NotFittedError
from persona.persistence import load_estimator, save_estimator

log = logging.getLogger(__name__)
#: an analytic gradient this small (mean log-likelihood per customer, by log-parameter) is an optimum, even where BFGS
#: reports a loss of precision in its last line search
GRADIENT_TOL = 1e-6


def as_rfm(frequency: Any, recency: Any, T: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate and broadcast (frequency, recency, T) to float arrays."""
    x = np.asarray(frequency, dtype=float)
    tx = np.asarray(recency, dtype=float)
    T_ = np.asarray(T, dtype=float)
    x, tx, T_ = np.broadcast_arrays(x, tx, T_)
    if x.size == 0:
        raise InputError("no customers to fit or score", hint="pass at least one (frequency, recency, T) row")
    if not (np.isfinite(x).all() and np.isfinite(tx).all() and np.isfinite(T_).all()):
        raise InputError("frequency, recency and T must be finite numbers", hint="drop rows with missing values")
    if (x < 0).any() or (tx < 0).any() or (T_ < 0).any():
        raise InputError("frequency, recency and T must be >= 0", hint="build the summary with rfm_summary()")
    if (tx > T_ + 1e-9).any():
        raise InputError("recency cannot exceed T (a purchase after the calibration end)", hint="build the summary with rfm_summary()")
    if ((x == 0) & (tx > 0)).any():
        raise InputError("a customer with frequency 0 must have recency 0", hint="build the summary with rfm_summary()")
    return x, tx, T_


def as_fit_rfm(frequency: Any, recency: Any, T: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`as_rfm` for fitting: some customer must have been watched for a while after a first purchase."""
    x, tx, T_ = as_rfm(frequency, recency, T)
    if not (T_ > 0).any():
        raise InputError("every customer's first purchase falls on the calibration end: there is no time after it to "
                         "learn purchase rates from", hint="use a longer purchase history or an earlier calibration end")
    return x, tx, T_


def compress(*cols: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Unique rows of the given columns and their counts (the likelihood is a weighted sum over them)."""
    stacked = np.column_stack(cols)
    uniq, counts = np.unique(stacked, axis=0, return_counts=True)
    return [uniq[:, i] for i in range(uniq.shape[1])], counts.astype(float)


class BTYDEstimator:
    """Base class: parameters are fit by maximum likelihood on log-parameters (all must be positive)."""

    param_names: ClassVar[tuple[str, ...]] = ()

    def __init__(self, penalizer: float = 0.0, max_iter: int = 2000, tol: float = 1e-10) -> None:
        self.penalizer = penalizer
        self.max_iter = max_iter
        self.tol = tol

    # -- subclass hooks -------------------------------------------------------------------------
    def _loglik(self, params: np.ndarray, *data: np.ndarray) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def _initial(self, *data: np.ndarray) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def _extra_loglik(self, params: np.ndarray) -> float:
        """A log-likelihood term that is not a sum over customers' summary rows (default none)."""
        return 0.0

    def _loglik_grad(self, params: np.ndarray, *data: np.ndarray) -> np.ndarray | None:
        """Per-row gradient of :meth:`_loglik` with respect to ``params``, shape (n_params, n_rows).

        ``None`` (the default) means the model has none: the optimizer then differentiates numerically. A model that
        returns one must also give the gradient of :meth:`_extra_loglik` in :meth:`_extra_grad`.
        """
        return None

    def _extra_grad(self, params: np.ndarray) -> np.ndarray:
        """Gradient of :meth:`_extra_loglik` with respect to ``params`` (default zero)."""
        return np.zeros(len(params))

    def _loglik_and_grad(self, params: np.ndarray, *data: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """:meth:`_loglik` and :meth:`_loglik_grad` at once (a model whose two share costly terms computes them once)."""
        return self._loglik(params, *data), self._loglik_grad(params, *data)

    # -- fitting --------------------------------------------------------------------------------
    def _validate_params(self) -> None:
        if not (isinstance(self.penalizer, int | float) and self.penalizer >= 0):
            raise InputError(f"penalizer={self.penalizer!r} must be a number >= 0", hint="use 0 for plain maximum likelihood")
        if not (isinstance(self.max_iter, int) and self.max_iter > 0):
            raise InputError(f"max_iter={self.max_iter!r} must be a positive integer", hint="e.g. max_iter=2000")

    def _mle(self, data: list[np.ndarray], weights: np.ndarray) -> None:
        """Maximise the weighted log-likelihood over log-parameters: BFGS with the model's analytic gradient where it
        has one (else numeric differences), polished by Nelder-Mead when BFGS stops short of convergence."""
        n = weights.sum()

        def penalised(p: np.ndarray, ll: np.ndarray) -> float:  # called under np.errstate(all="ignore")
            val = -((weights * ll).sum() + self._extra_loglik(p)) / n + self.penalizer * float((p**2).sum())
            return float(val) if np.isfinite(val) else 1e100

        def nll(logp: np.ndarray) -> float:
            if np.abs(logp).max() > 30:  # far outside any sensible parameter range
                return 1e100
            p = np.exp(logp)
            with np.errstate(all="ignore"):
                return penalised(p, self._loglik(p, *data))

        def nll_and_grad(logp: np.ndarray) -> tuple[float, np.ndarray]:
            if np.abs(logp).max() > 30:
                return 1e100, np.zeros_like(logp)
            p = np.exp(logp)
            with np.errstate(all="ignore"):
                ll, g = self._loglik_and_grad(p, *data)
                val = penalised(p, ll)
                if val >= 1e100:
                    return val, np.zeros_like(logp)
                assert g is not None
                grad = -((g * weights).sum(axis=1) + self._extra_grad(p)) * p / n + 2 * self.penalizer * p**2
            return (val, grad) if np.isfinite(grad).all() else (1e100, np.zeros_like(logp))

        starts = self._starts(*data)
        analytic = self._loglik_grad(np.asarray(starts[0], dtype=float), *data) is not None
        best = None
        for start in starts:
            if analytic:
                res = optimize.minimize(nll_and_grad, np.log(start), jac=True, method="BFGS",
                                        options={"maxiter": self.max_iter, "gtol": 1e-9})
            else:
                res = optimize.minimize(nll, np.log(start), method="BFGS", options={"maxiter": self.max_iter, "gtol": 1e-9})
            if analytic and not res.success and np.abs(res.jac).max() < GRADIENT_TOL:  # "precision loss" at the optimum
                res.success = True
            if getattr(self, "warm_start_", None) is None and not (analytic and res.success):  # BFGS stopped short
                res = optimize.minimize(nll, res.x, method="Nelder-Mead", options={"maxiter": self.max_iter, "maxfev": self.max_iter, "xatol": 1e-9, "fatol": 1e-14})
            if best is None or res.fun < best.fun:
                best = res
            if best.success and best.fun < 1e99:  # the informed start converged: the fallback start is not needed
                break
        assert best is not None
        self.params_ = dict(zip(self.param_names, np.exp(best.x).tolist(), strict=True))
        self.log_likelihood_ = float((weights * self._loglik(np.exp(best.x), *data)).sum() + self._extra_loglik(np.exp(best.x)))
        self.n_customers_ = int(n)
        self.converged_ = bool(best.success)
        log.info("model=%s n=%d ll=%.3f params=%s", type(self).__name__, n, self.log_likelihood_, self.params_)

    def _starts(self, *data: np.ndarray) -> list[np.ndarray]:
        warm = getattr(self, "warm_start_", None)
        if warm is not None:  # a refit on similar data (rolling backtests): one start is enough
            return [np.asarray(warm, dtype=float)]
        return [self._initial(*data), np.ones(len(self.param_names))]

    def _p(self) -> tuple[float, ...]:
        if not hasattr(self, "params_"):
            raise NotFittedError(self)
        return tuple(self.params_[k] for k in self.param_names)

    # -- persistence ----------------------------------------------------------------------------
    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Constructor parameters (scikit-learn convention)."""
        return {"penalizer": self.penalizer, "max_iter": self.max_iter, "tol": self.tol}

    def save(self, path: str | Path) -> Path:
        """Pickle the fitted estimator to ``path``."""
        self._p()
        return save_estimator(self, path)

    @classmethod
    def load(cls, path: str | Path) -> BTYDEstimator:
        """Load an estimator saved with :meth:`save`."""
        return load_estimator(cls, path)

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v:.4g}" for k, v in getattr(self, "params_", {}).items())
        return f"{type(self).__name__}({inner or 'unfitted'})"
