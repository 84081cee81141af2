"""BG/NBD and Pareto/NBD models of repeat transactions (Fader, Hardie & Lee 2005; Schmittlein et al. 1987).

Both are fit by maximum likelihood on the log of their parameters with the analytic log-likelihoods and their exact
gradients (Pareto/NBD's death term by quadrature), on the unique (frequency, recency, T) rows weighted by their counts,
so millions of customers fit in seconds.
Gamma-Gamma spend and the CLV formula live in :mod:`persona.predict.clv_gamma_gamma`.
"""

from __future__ import annotations

from typing import Any, Self

import numpy as np
from scipy.special import betaln, digamma, gammaln, hyp2f1

from persona.predict._btyd_base import BTYDEstimator, as_fit_rfm, as_rfm, compress


def _gauss_legendre(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and weights on [0, 1]."""
    nodes, weights = np.polynomial.legendre.leggauss(n)
    return (nodes + 1) / 2, weights / 2


#: quadrature of Pareto/NBD's death integral: with 32 nodes its relative error stays below 1e-12 (checked against
#: mpmath's 2F1 over r, alpha, s, s/beta, T and frequency spanning several decades)
_GL_NODES, _GL_WEIGHTS = _gauss_legendre(32)


class _RepeatModel(BTYDEstimator):
    """A model of repeat purchases fitted on each customer's (frequency, recency, T)."""

    def fit(self, frequency: Any, recency: Any, T: Any) -> Self:
        """Fit the parameters (``param_names``) by maximum likelihood.

        Args:
            frequency: repeat purchases per customer; recency: age at last purchase; T: age at calibration end.

        Returns:
            self

        Raises:
            InputError: invalid parameters or inputs.
        """
        self._validate_params()
        data, w = compress(*as_fit_rfm(frequency, recency, T))
        self._mle(data, w)
        return self


class BetaGeoModel(_RepeatModel):
    """BG/NBD: Poisson purchases with gamma heterogeneity; after each purchase the customer drops out w.p. p ~ Beta(a, b).

    Args:
        penalizer: L2 penalty on the parameters (0 = plain maximum likelihood, as in the paper).
        max_iter: optimizer iterations.
    """

    param_names = ("r", "alpha", "a", "b")

    def _initial(self, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray:
        rate = max(float(np.mean(x) / np.mean(T)), 1e-3)
        return np.array([0.5, 0.5 / rate, 1.0, 3.0])

    @staticmethod
    def _alive_dead(p: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The log-likelihood's two branches: alive at T (A3) and dropped out after the last purchase (A4)."""
        r, alpha, a, b = p
        a3 = -(r + x) * np.log(alpha + T)
        with np.errstate(divide="ignore"):
            a4 = np.where(x > 0, np.log(a) - np.log(b + np.maximum(x, 1) - 1) - (r + x) * np.log(alpha + tx), -np.inf)
        return a3, a4

    @staticmethod
    def _purchase_terms(p: np.ndarray, x: np.ndarray) -> np.ndarray:
        """The log-likelihood's terms that do not depend on recency and T (A1 + A2)."""
        r, alpha, a, b = p
        return gammaln(r + x) - gammaln(r) + r * np.log(alpha) + (betaln(a, b + x) - betaln(a, b))

    def _loglik(self, p: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray:
        return self._purchase_terms(p, x) + np.logaddexp(*self._alive_dead(p, x, tx, T))

    def _loglik_grad(self, p: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray | None:
        return self._loglik_and_grad(p, x, tx, T)[1]

    def _loglik_and_grad(self, p: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ll, grad, _d_tx, _d_T = self._loglik_terms(p, x, tx, T)
        return ll, grad

    def _loglik_terms(self, p: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per-row :meth:`_loglik` and its derivatives: by (r, alpha, a, b) as rows of the second array, then by t_x and by T."""
        r, alpha, a, b = p
        a3, a4 = self._alive_dead(p, x, tx, T)
        top = np.logaddexp(a3, a4)
        w3, w4 = np.exp(a3 - top), np.exp(a4 - top)  # each branch's share of the likelihood (w4 = 0 without repeats)
        d_tx, d_T = -w4 * (r + x) / (alpha + tx), -w3 * (r + x) / (alpha + T)
        d_r = digamma(r + x) - digamma(r) + np.log(alpha) - w3 * np.log(alpha + T) - w4 * np.log(alpha + tx)
        d_alpha = r / alpha + d_T + d_tx
        beta_ab = digamma(a + b) - digamma(a + b + x)
        d_a = beta_ab + w4 / a
        d_b = beta_ab + digamma(b + x) - digamma(b) - w4 / (b + np.maximum(x, 1) - 1)
        return self._purchase_terms(p, x) + top, np.vstack([d_r, d_alpha, d_a, d_b]), d_tx, d_T

    def log_likelihood(self, frequency: Any, recency: Any, T: Any) -> float:
        """Total log-likelihood of the data under the fitted parameters."""
        x, tx, T_ = as_rfm(frequency, recency, T)
        return float(self._loglik(np.array(self._p()), x, tx, T_).sum())

    def expected_purchases(self, t: Any) -> np.ndarray:
        """E[X(t)]: expected purchases of a new customer in a period of length t."""
        r, alpha, a, b = self._p()
        t = np.asarray(t, dtype=float)
        if self._no_dropout():
            return r / alpha * t
        hyp = hyp2f1(r, b, a + b - 1, t / (alpha + t))
        return (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * hyp)

    def _no_dropout(self) -> bool:
        """True when the fitted dropout probability is vanishing (2F1 is then numerically unusable)."""
        _r, _alpha, a, b = self._p()
        return b > 1e7 or a / (a + b) < 1e-9

    def _log_odds_dead(self, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray:
        r, alpha, a, b = self._p()
        with np.errstate(divide="ignore"):
            return np.where(
                x > 0,
                np.log(a) - np.log(b + np.maximum(x, 1) - 1) + (r + x) * (np.log(alpha + T) - np.log(alpha + tx)),
                -np.inf,
            )

    def probability_alive(self, frequency: Any, recency: Any, T: Any) -> np.ndarray:
        """P(the customer is still active at T | history)."""
        x, tx, T_ = as_rfm(frequency, recency, T)
        return self._alive(x, tx, T_)

    def _alive(self, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(self._log_odds_dead(x, tx, T)))

    def conditional_expected_purchases(self, t: Any, frequency: Any, recency: Any, T: Any) -> np.ndarray:
        """E[Y(t) | x, t_x, T]: expected purchases in the next t time units."""
        r, alpha, a, b = self._p()
        x, tx, T_ = as_rfm(frequency, recency, T)
        t = np.asarray(t, dtype=float)
        if self._no_dropout():  # the limit p -> 0: BG/NBD becomes the NBD, whose posterior rate is (r+x)/(alpha+T)
            return (r + x) / (alpha + T_) * t * self._alive(x, tx, T_)
        z = t / (alpha + T_ + t)
        hyp = hyp2f1(r + x, b + x, a + b + x - 1, z)
        num = (a + b + x - 1) / (a - 1) * (1 - ((alpha + T_) / (alpha + T_ + t)) ** (r + x) * hyp)
        return num * self._alive(x, tx, T_)

    def probability_purchase_within(self, t: Any, frequency: Any, recency: Any, T: Any) -> np.ndarray:
        """P(at least one purchase in the next t time units | history): alive and the next Poisson event comes within t."""
        r, alpha, _a, _b = self._p()
        x, tx, T_ = as_rfm(frequency, recency, T)
        t = np.asarray(t, dtype=float)
        return self._alive(x, tx, T_) * (1 - ((alpha + T_) / (alpha + T_ + t)) ** (r + x))

    def median_time_to_next_purchase(self, frequency: Any, recency: Any, T: Any) -> np.ndarray:
        """Median wait to the next purchase, given the customer is alive (posterior rate Gamma(r+x, alpha+T))."""
        r, alpha, _a, _b = self._p()
        x, tx, T_ = as_rfm(frequency, recency, T)
        return (alpha + T_) * (2.0 ** (1.0 / (r + x)) - 1.0)


class ParetoNBDModel(_RepeatModel):
    """Pareto/NBD: Poisson purchases (rate ~ Gamma(r, alpha)) and exponential lifetimes (rate ~ Gamma(s, beta)).

    The likelihood (Fader & Hardie 2005) is "alive at T" plus "died unseen between the last purchase and T"; the
    second term, a Gauss 2F1 in closed form, is integrated here by Gauss-Legendre quadrature, which holds for every
    s (scipy's 2F1 returns NaN from s of a few hundred) and gives the exact gradient for BFGS. Where the data show no
    spread in death rates, the likelihood keeps rising as s and beta grow together towards the limit of one death
    rate mu = s/beta for everyone; BFGS follows that ridge until the gradient vanishes (s of 1e8 and more), where
    likelihood and predictions agree with the limit model's to about 1e-8.
    """

    param_names = ("r", "alpha", "s", "beta")

    def _initial(self, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray:
        rate = max(float(np.mean(x) / np.mean(T)), 1e-3)
        return np.array([0.5, 0.5 / rate, 0.5, float(np.mean(T))])

    @staticmethod
    def _log_alive(p: tuple[float, ...] | np.ndarray, x: np.ndarray, T: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Log of the "alive at T" term, (alpha+T)^-(r+x) (1+T/beta)^-s, and its gradient by (r, alpha, s, beta)."""
        r, alpha, s, beta = p
        a = r + x
        log_at = np.log(alpha + T)
        log_bt = np.log1p(T / beta)
        return -a * log_at - s * log_bt, np.stack([-log_at, -a / (alpha + T), -log_bt, s * T / (beta * (beta + T))])

    @staticmethod
    def _log_dead(p: tuple[float, ...] | np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Log of the "died unseen in (t_x, T]" term and its gradient by (r, alpha, s, beta).

        The term is the integral over the death time tau of (alpha+tau)^-(r+x) (s/beta)(1+tau/beta)^-(s+1). In
        v = log((m+tau)/(m+t_x)), m = min(alpha, beta), the integrand is smooth and log-concave; the range is cut where
        it has fallen e^-50 below its peak (the steep decay of frequent buyers), then Gauss-Legendre integrates it.
        Rows with t_x = T have no such term (log 0).
        """
        r, alpha, s, beta = p
        a = (r + x)[:, None]
        c = (min(alpha, beta) + tx)[:, None]

        def log_integrand(v: np.ndarray, rows: Any) -> tuple[np.ndarray, ...]:
            """The log-integrand at v, with tau, log(alpha+tau) and log(1+tau/beta) for the gradient."""
            tau = tx[rows, None] + c[rows] * np.expm1(v)
            log_at, log_bt = np.log(alpha + tau), np.log1p(tau / beta)
            return np.log(c[rows]) + v - a[rows] * log_at + np.log(s / beta) - (s + 1) * log_bt, tau, log_at, log_bt

        span = np.log1p((T - tx)[:, None] / c)
        lg, tau, log_at, log_bt = log_integrand(span * _GL_NODES, slice(None))
        fallen = (lg < lg.max(axis=1, keepdims=True) - 50.0) & (np.arange(_GL_NODES.size) > lg.argmax(axis=1)[:, None])
        rows = np.flatnonzero(fallen.any(axis=1))
        if rows.size:  # integrate those rows again, up to their first node past the peak that has fallen that far
            span[rows] *= _GL_NODES[fallen[rows].argmax(axis=1)][:, None]
            lg[rows], tau[rows], log_at[rows], log_bt[rows] = log_integrand(span[rows] * _GL_NODES, rows)
        lw = lg + np.log(_GL_WEIGHTS)
        top = lw.max(axis=1, keepdims=True)
        share = np.exp(lw - top)
        total = share.sum(axis=1, keepdims=True)
        share /= total  # each node's share of the integral: the gradient is the share-weighted mean of the integrand's

        def mean(f: np.ndarray) -> np.ndarray:
            return np.einsum("ij,ij->i", share, f)

        grad = np.stack([-mean(log_at), -a[:, 0] * mean(1 / (alpha + tau)), 1 / s - mean(log_bt), ((s + 1) * mean(tau / (beta + tau)) - 1) / beta])
        return (np.log(span) + top + np.log(total))[:, 0], grad

    def _loglik_and_grad(self, p: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r, alpha = p[:2]
        alive, d_alive = self._log_alive(p, x, T)
        with np.errstate(divide="ignore"):  # log 0 where t_x = T
            dead, d_dead = self._log_dead(p, x, tx, T)
        both = np.logaddexp(alive, dead)
        w_dead = np.exp(dead - both)  # the dead branch's share of the likelihood
        d_head = np.zeros((4, x.size))
        d_head[0] = digamma(r + x) - digamma(r) + np.log(alpha)
        d_head[1] = r / alpha
        return gammaln(r + x) - gammaln(r) + r * np.log(alpha) + both, d_head + (1 - w_dead) * d_alive + w_dead * d_dead

    def _loglik(self, p: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray:
        return self._loglik_and_grad(p, x, tx, T)[0]

    def _loglik_grad(self, p: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray | None:
        return self._loglik_and_grad(p, x, tx, T)[1]

    def log_likelihood(self, frequency: Any, recency: Any, T: Any) -> float:
        """Total log-likelihood of the data under the fitted parameters."""
        x, tx, T_ = as_rfm(frequency, recency, T)
        return float(self._loglik(np.array(self._p()), x, tx, T_).sum())

    @staticmethod
    def _expected_alive_time(s: float, beta: Any, t: Any) -> np.ndarray:
        """E[min(lifetime, t)] when the death rate is Gamma(s, beta): beta/(s-1) (1 - (beta/(beta+t))^(s-1)), stable for large s."""
        return -beta * np.expm1(-(s - 1) * np.log1p(t / beta)) / (s - 1)

    def expected_purchases(self, t: Any) -> np.ndarray:
        """E[X(t)]: expected purchases of a new customer in a period of length t."""
        r, alpha, s, beta = self._p()
        return r / alpha * self._expected_alive_time(s, beta, np.asarray(t, dtype=float))

    def probability_alive(self, frequency: Any, recency: Any, T: Any) -> np.ndarray:
        """P(the customer is still active at T | history)."""
        p = self._p()
        x, tx, T_ = as_rfm(frequency, recency, T)
        rows = [c.ravel() for c in (x, tx, T_)]
        with np.errstate(divide="ignore"):  # log 0 where t_x = T
            log_odds = self._log_dead(p, *rows)[0] - self._log_alive(p, rows[0], rows[2])[0]
        return (1.0 / (1.0 + np.exp(log_odds))).reshape(x.shape)

    def conditional_expected_purchases(self, t: Any, frequency: Any, recency: Any, T: Any) -> np.ndarray:
        """E[Y(t) | x, t_x, T]: expected purchases in the next t time units."""
        r, alpha, s, beta = self._p()
        x, tx, T_ = as_rfm(frequency, recency, T)
        t = np.asarray(t, dtype=float)
        return (r + x) / (alpha + T_) * self._expected_alive_time(s, beta + T_, t) * self.probability_alive(x, tx, T_)

    def probability_purchase_within(self, t: Any, frequency: Any, recency: Any, T: Any) -> np.ndarray:
        """P(at least one purchase in the next t | history): alive, and the first purchase beats the dropout time.

        Given alive with rates (lambda, mu) ~ posterior Gammas, P = lambda/(lambda+mu)(1-exp(-(lambda+mu)t)),
        integrated numerically on a small quadrature grid.
        """
        r, alpha, s, beta = self._p()
        x, tx, T_ = as_rfm(frequency, recency, T)
        t = np.asarray(t, dtype=float) * np.ones_like(x)
        from scipy.stats import gamma as gamma_dist

        q = (np.arange(24) + 0.5) / 24
        lam = gamma_dist.ppf(q[None, :], (r + x)[:, None], scale=1.0 / (alpha + T_)[:, None])
        mu = gamma_dist.ppf(q[:, None][None, ...].squeeze(0).T, s, scale=1.0 / (beta + T_)[:, None])
        tot = lam[:, :, None] + mu[:, None, :]
        p = (lam[:, :, None] / tot * (1 - np.exp(-tot * t[:, None, None]))).mean(axis=(1, 2))
        return self.probability_alive(x, tx, T_) * p
