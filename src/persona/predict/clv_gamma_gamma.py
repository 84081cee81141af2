"""Gamma-Gamma model of average spend per transaction and the discounted customer lifetime value.

Fader, Hardie & Lee (2005) "RFM and CLV": each customer's transaction values are Gamma(p, nu) with
nu ~ Gamma(q, gamma) across customers; fit on customers with at least one repeat purchase, on the mean
value of their repeat purchases.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
from scipy.special import digamma, gammaln

from persona.errors import InputError
from persona.predict._btyd_base import BTYDEstimator, compress


class TransactionModel(Protocol):
    """What CLV needs from a transaction model: conditional expected purchases."""

    def conditional_expected_purchases(self, t: Any, frequency: Any, recency: Any, T: Any) -> np.ndarray: ...


def _as_fm(frequency: Any, monetary: Any) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(frequency, dtype=float)
    m = np.asarray(monetary, dtype=float)
    x, m = np.broadcast_arrays(x, m)
    if x.size == 0:
        raise InputError("no customers given", hint="pass at least one (frequency, monetary_value) row")
    if not (np.isfinite(x).all() and np.isfinite(m).all()):
        raise InputError("frequency and monetary_value must be finite", hint="drop rows with missing values")
    return x, m


class GammaGammaModel(BTYDEstimator):
    """Gamma-Gamma spend model with parameters p, q, gamma.

    Args:
        penalizer: L2 penalty on the parameters (0 = plain maximum likelihood).
        max_iter: optimizer iterations.
    """

    param_names = ("p", "q", "gamma")

    def fit(self, frequency: Any, monetary_value: Any) -> GammaGammaModel:
        """Fit on customers with frequency > 0 and a positive average repeat spend (others are ignored).

        Args:
            frequency: repeat purchases per customer.
            monetary_value: mean value of the repeat purchases.

        Returns:
            self

        Raises:
            InputError: no customer has a repeat purchase with positive value.
        """
        self._validate_params()
        x, m = _as_fm(frequency, monetary_value)
        keep = (x > 0) & (m > 0)
        if keep.sum() < 2:
            raise InputError(
                f"Gamma-Gamma needs customers with repeat purchases of positive value; got {int(keep.sum())}",
                hint="use more history or a longer calibration period",
            )
        data, w = compress(x[keep], m[keep])
        self._mle(data, w)
        self.n_customers_ = int(keep.sum())
        return self

    def _initial(self, x: np.ndarray, m: np.ndarray) -> np.ndarray:
        mean = float(np.mean(m))
        return np.array([2.0, 3.0, 2.0 * mean / 2.0])

    def _loglik(self, prm: np.ndarray, x: np.ndarray, m: np.ndarray) -> np.ndarray:
        p, q, g = prm
        return (
            gammaln(p * x + q) - gammaln(p * x) - gammaln(q) + q * np.log(g)
            + (p * x - 1) * np.log(m) + p * x * np.log(x) - (p * x + q) * np.log(g + m * x)
        )

    def _loglik_grad(self, prm: np.ndarray, x: np.ndarray, m: np.ndarray) -> np.ndarray | None:
        p, q, g = prm
        shared = digamma(p * x + q) - np.log(g + m * x)
        return np.vstack([x * (shared - digamma(p * x) + np.log(m) + np.log(x)),
                          shared - digamma(q) + np.log(g),
                          q / g - (p * x + q) / (g + m * x)])

    def log_likelihood(self, frequency: Any, monetary_value: Any) -> float:
        """Log-likelihood of the customers with repeat purchases."""
        x, m = _as_fm(frequency, monetary_value)
        keep = (x > 0) & (m > 0)
        return float(self._loglik(np.array(self._p()), x[keep], m[keep]).sum())

    def conditional_expected_average_spend(self, frequency: Any, monetary_value: Any) -> np.ndarray:
        """E[M | x, m̄]: posterior mean spend per transaction (the population mean for customers without repeats)."""
        p, q, g = self._p()
        x, m = _as_fm(frequency, monetary_value)
        pop = p * g / (q - 1) if q > 1 else np.nan
        with np.errstate(invalid="ignore", divide="ignore"):
            post = (p * (g + x * m)) / (p * x + q - 1)
        return np.where(x > 0, post, pop)

    def customer_lifetime_value(
        self,
        transaction_model: TransactionModel,
        frequency: Any,
        recency: Any,
        T: Any,
        monetary_value: Any,
        *,
        horizon: float,
        period: float,
        discount_rate: float = 0.0,
        margin: float = 1.0,
    ) -> np.ndarray:
        """Discounted value of the purchases expected over ``horizon`` (same time unit as T).

        The horizon is cut into periods of length ``period``; purchases expected in period i are valued at the
        expected average spend and discounted by ``(1 + discount_rate) ** i`` (``discount_rate`` per period).

        Args:
            transaction_model: a fitted BG/NBD, Pareto/NBD or hybrid model.
            frequency, recency, T, monetary_value: the customers' calibration summary.
            horizon: length of the horizon; period: length of one discounting period.
            discount_rate: discount rate per period (e.g. 0.01 a month); margin: share of revenue that is profit.

        Returns:
            CLV per customer.

        Raises:
            InputError: a non-positive horizon/period or a negative discount rate.
        """
        if horizon <= 0 or period <= 0 or discount_rate < 0:
            raise InputError(
                f"horizon={horizon}, period={period}, discount_rate={discount_rate} are invalid",
                hint="horizon and period must be > 0 and discount_rate >= 0",
            )
        spend = self.conditional_expected_average_spend(frequency, monetary_value)
        n = int(np.ceil(horizon / period - 1e-9))
        value = np.zeros_like(spend, dtype=float)
        prev = 0.0
        for i in range(1, n + 1):
            cum = transaction_model.conditional_expected_purchases(min(i * period, horizon), frequency, recency, T)
            value += (cum - prev) / (1 + discount_rate) ** i
            prev = cum
        return margin * spend * value
