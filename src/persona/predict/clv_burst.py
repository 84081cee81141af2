"""BG/NBD with an onboarding burst: new customers buy faster for a few weeks, then settle to their long-run rate.

Each customer's purchase rate at age ``a`` (time since their first purchase) is ``λ·g(a)`` with
``g(a) = 1 + θ·exp(−a/τ)``. Since BG/NBD customers drop out only at purchases, the model is an exact BG/NBD
in the stretched age ``u = G(a) = a + θτ(1 − exp(−a/τ))``: recency and T are mapped through ``G`` and the
likelihood gains the Jacobian ``Σ log g(age)`` over every repeat purchase. Plain BG/NBD reads the burst as
dropout and under-forecasts the customers who stay; θ and τ are fit by maximum likelihood with the rest, on
calibration data only (θ → 0 gives BG/NBD back).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from persona.errors import InputError
from persona.predict._btyd_base import as_fit_rfm, as_rfm, compress
from persona.predict.clv import BetaGeoModel
from persona.predict.clv_summary import UNITS, TransactionColumns, _daily


def repeat_purchase_ages(
    transactions: pd.DataFrame, calibration_end: str | pd.Timestamp, *, freq: str = "W", columns: TransactionColumns | None = None
) -> np.ndarray:
    """Age (time since the customer's first purchase day) at every repeat purchase day up to ``calibration_end``.

    Purchases on one day count once, as in :func:`persona.predict.clv_summary.rfm_summary`, so the number of
    ages equals the summary's total ``frequency``.
    """
    if freq not in UNITS:
        raise InputError(f"freq={freq!r} is not supported", hint=f"use one of {sorted(UNITS)}")
    daily = _daily(transactions, columns or TransactionColumns())
    cal = daily[daily["day"] <= pd.Timestamp(calibration_end).normalize()]
    age = (cal["day"] - cal.groupby("customer_id")["day"].transform("min")).dt.days / UNITS[freq]
    return age[age > 0].to_numpy(dtype=float)


def _stretch(a: np.ndarray, theta: float, tau: float) -> np.ndarray:
    return a + theta * tau * -np.expm1(-a / tau)


def _stretch_grad(a: np.ndarray, theta: float, tau: float) -> tuple[np.ndarray, np.ndarray]:
    """The derivatives of :func:`_stretch` by θ and by τ."""
    rise = -np.expm1(-a / tau)
    return tau * rise, theta * (rise - a / tau * np.exp(-a / tau))


class BurstBetaGeoModel(BetaGeoModel):
    """BG/NBD whose purchase rate starts ``1 + θ`` times higher and decays to it with time constant ``τ``.

    Args:
        penalizer, max_iter: as :class:`~persona.predict.clv.BetaGeoModel`.
    """

    param_names = ("r", "alpha", "a", "b", "theta", "tau")

    def fit(self, frequency: Any, recency: Any, T: Any, repeat_ages: Any = None) -> BurstBetaGeoModel:  # type: ignore[override]
        """Fit r, alpha, a, b, θ and τ by maximum likelihood.

        Args:
            frequency, recency, T: the calibration summary (as for BG/NBD).
            repeat_ages: the age at each repeat purchase (:func:`repeat_purchase_ages`); one per unit of frequency.

        Returns:
            self

        Raises:
            InputError: invalid inputs, or repeat ages that do not match the frequencies.
        """
        self._validate_params()
        x, tx, T_ = as_fit_rfm(frequency, recency, T)
        if repeat_ages is None:
            raise InputError("BurstBetaGeoModel needs the age at every repeat purchase",
                             hint="pass repeat_ages=repeat_purchase_ages(transactions, calibration_end)")
        ages = np.asarray(repeat_ages, dtype=float).ravel()
        if not np.isfinite(ages).all() or (ages <= 0).any():
            raise InputError("repeat purchase ages must be finite and > 0", hint="build them with repeat_purchase_ages()")
        if len(ages) != int(round(x.sum())):
            raise InputError(f"got {len(ages)} repeat purchase ages for a total frequency of {int(round(x.sum()))}",
                             hint="build the summary and the ages from the same transactions and calibration end")
        (self._ages,), self._age_counts = compress(ages)
        data, w = compress(x, tx, T_)
        try:
            self._mle(data, w)
        finally:
            del self._ages, self._age_counts
        return self

    def _initial(self, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray:
        return np.r_[super()._initial(x, tx, T), 1.0, max(float(np.mean(T)) / 8.0, 1e-3)]

    def _loglik(self, p: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray:
        theta, tau = p[4], p[5]
        return super()._loglik(p[:4], x, _stretch(tx, theta, tau), _stretch(T, theta, tau))

    def _loglik_and_grad(self, p: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        theta, tau = p[4], p[5]
        ll, core, d_tx, d_T = self._loglik_terms(p[:4], x, _stretch(tx, theta, tau), _stretch(T, theta, tau))
        (tx_theta, tx_tau), (T_theta, T_tau) = _stretch_grad(tx, theta, tau), _stretch_grad(T, theta, tau)
        return ll, np.vstack([core, d_tx * tx_theta + d_T * T_theta, d_tx * tx_tau + d_T * T_tau])

    def _extra_loglik(self, p: np.ndarray) -> float:
        theta, tau = p[4], p[5]
        return float((self._age_counts * np.log1p(theta * np.exp(-self._ages / tau))).sum())

    def _extra_grad(self, p: np.ndarray) -> np.ndarray:
        theta, tau = p[4], p[5]
        decay = np.exp(-self._ages / tau)
        share = self._age_counts * decay / (1 + theta * decay)
        return np.r_[np.zeros(4), share.sum(), (share * theta * self._ages / tau**2).sum()]

    # the BG/NBD formulas read r, alpha, a, b; the burst maps ages and horizons into stretched time
    def _p(self) -> tuple[float, ...]:
        return super()._p()[:4]

    def _burst(self) -> tuple[float, float]:
        self._p()
        return float(self.params_["theta"]), float(self.params_["tau"])

    def log_likelihood(self, frequency: Any, recency: Any, T: Any) -> float:
        """Log-likelihood of the summary rows (without the repeat-purchase Jacobian, which needs the ages)."""
        x, tx, T_ = as_rfm(frequency, recency, T)
        theta, tau = self._burst()
        return float(BetaGeoModel._loglik(self, np.array(self._p()), x, _stretch(tx, theta, tau), _stretch(T_, theta, tau)).sum())

    def expected_purchases(self, t: Any) -> np.ndarray:
        """E[X(t)]: expected repeat purchases of a new customer in their first t time units."""
        theta, tau = self._burst()
        return super().expected_purchases(_stretch(np.asarray(t, dtype=float), theta, tau))

    def probability_alive(self, frequency: Any, recency: Any, T: Any) -> np.ndarray:
        """P(the customer is still active at T | history)."""
        x, tx, T_ = as_rfm(frequency, recency, T)
        theta, tau = self._burst()
        return super().probability_alive(x, _stretch(tx, theta, tau), _stretch(T_, theta, tau))

    def _stretched(self, t: Any, frequency: Any, recency: Any, T: Any) -> tuple[np.ndarray, ...]:
        """A horizon t after T, and the history, mapped into stretched time: (Δu, x, u(t_x), u(T))."""
        x, tx, T_ = as_rfm(frequency, recency, T)
        theta, tau = self._burst()
        u_T = _stretch(T_, theta, tau)
        return _stretch(T_ + np.asarray(t, dtype=float), theta, tau) - u_T, x, _stretch(tx, theta, tau), u_T

    def conditional_expected_purchases(self, t: Any, frequency: Any, recency: Any, T: Any) -> np.ndarray:
        """E[Y(t) | x, t_x, T]: expected purchases in the next t time units."""
        return super().conditional_expected_purchases(*self._stretched(t, frequency, recency, T))

    def probability_purchase_within(self, t: Any, frequency: Any, recency: Any, T: Any) -> np.ndarray:
        """P(at least one purchase in the next t time units | history)."""
        return super().probability_purchase_within(*self._stretched(t, frequency, recency, T))

    def median_time_to_next_purchase(self, frequency: Any, recency: Any, T: Any) -> np.ndarray:
        """Median wait to the next purchase given the customer is alive, in calendar time units."""
        x, tx, T_ = as_rfm(frequency, recency, T)
        theta, tau = self._burst()
        u_T = _stretch(T_, theta, tau)
        target = u_T + super().median_time_to_next_purchase(x, _stretch(tx, theta, tau), u_T)
        lo, hi = T_.copy(), T_ + (target - u_T)  # G grows at least as fast as the age, so the answer is <= this
        for _ in range(60):  # bisection on the monotone G
            mid = 0.5 * (lo + hi)
            below = _stretch(mid, theta, tau) < target
            lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
        return 0.5 * (lo + hi) - T_
