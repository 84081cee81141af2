"""Always-valid sequential monitoring: the normal-mixture SPRT and its confidence sequence.

Johari, Pekelis & Walsh (2017, "Always valid inference") and Howard et al. (2021, "Time-uniform,
nonparametric, nonasymptotic confidence sequences"): with a N(0, tau^2) mixture over the effect,
the likelihood ratio of the difference-in-means estimate ``d`` (variance ``s2``) is

    Lambda = sqrt(s2 / (s2 + tau2)) * exp(tau2 * d^2 / (2 * s2 * (s2 + tau2)))

and ``P(sup_t Lambda_t >= 1/alpha) <= alpha`` under H0 (Ville's inequality), so the test may be checked
after every batch without inflating false positives. Inverting it gives an always-valid confidence
sequence. Variances are plug-in estimates, as in Johari et al.'s deployed version: the guarantee is
asymptotic in the batch size (the A/A simulation in the tests checks it at 200 per arm per look).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from persona.errors import InputError


def optimal_tau2(s2_planned: np.ndarray | float, alpha: float = 0.05) -> np.ndarray:
    """Mixing variance that makes the boundary tightest when the estimate's variance is ``s2_planned``.

    Howard et al. (2021), normal-mixture boundary tuned for intrinsic time m:
    rho = m / (-2 log alpha + log(-2 log alpha + 1)); in the information scale (m = 1 / s2_planned,
    tau^2 = 1 / rho) this is tau^2 = s2_planned * (-2 log alpha + log(1 - 2 log alpha)).
    """
    la = -2.0 * np.log(alpha)
    return np.asarray(s2_planned, dtype=float) * (la + np.log(la + 1.0))


def log_mixture_lr(d: np.ndarray, s2: np.ndarray, tau2: np.ndarray | float, theta0: float = 0.0) -> np.ndarray:
    """Log of the normal-mixture likelihood ratio for H0: effect = ``theta0`` (vectorised)."""
    d, s2, tau2 = np.asarray(d, float), np.asarray(s2, float), np.asarray(tau2, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = 0.5 * np.log(s2 / (s2 + tau2)) + tau2 * (d - theta0) ** 2 / (2 * s2 * (s2 + tau2))
    return np.where(s2 > 0, out, 0.0)


def cs_radius(s2: np.ndarray, tau2: np.ndarray | float, alpha: float = 0.05) -> np.ndarray:
    """Half-width of the always-valid confidence sequence at variance ``s2`` (vectorised)."""
    s2, tau2 = np.asarray(s2, float), np.asarray(tau2, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.sqrt(2 * s2 * (s2 + tau2) / tau2 * (np.log(1 / alpha) + 0.5 * np.log((s2 + tau2) / s2)))
    return np.where(s2 > 0, r, np.inf)


def always_valid_p(log_lr: np.ndarray, axis: int = -1) -> np.ndarray:
    """Always-valid p-values: running minimum of ``min(1, 1 / Lambda)`` along the looks axis."""
    p = np.minimum(1.0, np.exp(-np.asarray(log_lr, float)))
    return np.minimum.accumulate(p, axis=axis)


@dataclass
class SequentialMonitor:
    """Always-valid test of a difference in means (conversion rates or revenue) checked after every batch.

    Args:
        alpha: the false-positive rate guaranteed however often the test is looked at.
        tau: mixing standard deviation of the effect; default: tuned for ``planned_n`` per arm.
        planned_n: customers per arm at which the boundary is tightest (used when ``tau`` is None).
    """

    alpha: float = 0.05
    tau: float | None = None
    planned_n: int | None = 10_000

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 1:
            raise InputError(f"alpha must be in (0, 1), got {self.alpha}")
        if self.tau is None and not (self.planned_n and self.planned_n > 1):
            raise InputError("give tau or planned_n (> 1)", hint="planned_n = the sample size per arm you expect")

    def _tau2(self, var_t: np.ndarray, var_c: np.ndarray) -> np.ndarray:
        if self.tau is not None:
            return np.full_like(np.asarray(var_t, float), self.tau**2)
        return optimal_tau2((np.asarray(var_t) + np.asarray(var_c)) / float(self.planned_n), self.alpha)

    def evaluate(self, n_t: np.ndarray, mean_t: np.ndarray, var_t: np.ndarray, n_c: np.ndarray, mean_c: np.ndarray,
                 var_c: np.ndarray) -> dict[str, np.ndarray]:
        """Statistics at each look from cumulative summaries (arrays broadcast; looks along the last axis).

        Returns:
            estimate, ci_low, ci_high (always valid), log_lr, p_value (always valid), reject.
        """
        n_t, n_c = np.asarray(n_t, float), np.asarray(n_c, float)
        d = np.asarray(mean_t, float) - np.asarray(mean_c, float)
        with np.errstate(divide="ignore", invalid="ignore"):
            s2 = np.asarray(var_t, float) / n_t + np.asarray(var_c, float) / n_c
        s2 = np.where(np.isfinite(s2), s2, 0.0)
        tau2 = self._tau2(var_t, var_c)
        llr = log_mixture_lr(d, s2, tau2)
        r = cs_radius(s2, tau2, self.alpha)
        p = always_valid_p(llr)
        return {"estimate": d, "ci_low": d - r, "ci_high": d + r, "log_lr": llr, "p_value": p,
                "reject": p <= self.alpha}

    def monitor(self, order: np.ndarray, arm: np.ndarray, y: np.ndarray, looks: int = 20) -> pd.DataFrame:
        """Replay an experiment in arrival order and report the test after each of ``looks`` batches.

        Args:
            order: sort key giving arrival order (e.g. exposure time).
            arm: boolean, True for treatment.
            y: outcome per customer (0/1 or a number).
            looks: number of equally spaced looks.
        """
        idx = np.argsort(np.asarray(order), kind="mergesort")
        t = np.asarray(arm, bool)[idx]
        y = np.asarray(y, float)[idx]
        if t.all() or not t.any():
            raise InputError("sequential monitoring needs customers in both arms")
        ends = np.unique(np.linspace(0, len(y), looks + 1).astype(int)[1:])
        cum = {}
        for name, mask in (("t", t), ("c", ~t)):
            yy = np.where(mask, y, 0.0)
            n = np.cumsum(mask)[ends - 1].astype(float)
            s = np.cumsum(yy)[ends - 1]
            ss = np.cumsum(yy * yy)[ends - 1]
            with np.errstate(divide="ignore", invalid="ignore"):
                m = s / n
                v = (ss - n * m * m) / np.maximum(n - 1, 1)
            cum[name] = (n, np.nan_to_num(m), np.maximum(np.nan_to_num(v), 0.0))
        res = self.evaluate(*cum["t"], *cum["c"])
        return pd.DataFrame({"customers": ends, "n_treatment": cum["t"][0], "n_control": cum["c"][0], **res})


def simulate_aa_false_positive_rate(n_experiments: int = 500, looks: int = 20, batch: int = 200, rate: float = 0.1,
                                    alpha: float = 0.05, seed: int = 0) -> dict[str, float]:
    """Share of A/A experiments declared significant when checked after every batch.

    Compares the always-valid test with the naive fixed-horizon z-test applied at every look
    (which is what "peeking" does), all vectorised.
    """
    rng = np.random.default_rng(seed)
    xt = rng.binomial(batch, rate, size=(n_experiments, looks)).cumsum(axis=1).astype(float)
    xc = rng.binomial(batch, rate, size=(n_experiments, looks)).cumsum(axis=1).astype(float)
    n = batch * np.arange(1, looks + 1, dtype=float)
    mt, mc = xt / n, xc / n
    vt, vc = mt * (1 - mt) * n / np.maximum(n - 1, 1), mc * (1 - mc) * n / np.maximum(n - 1, 1)
    mon = SequentialMonitor(alpha=alpha, planned_n=int(n[-1]))
    res = mon.evaluate(n, mt, vt, n, mc, vc)
    seq_fp = float(res["reject"].any(axis=1).mean())
    from persona.experiments.inference import two_proportion_ztest

    naive = two_proportion_ztest(xt, n, xc, n, alpha=alpha)
    naive_fp = float((naive.p_value < alpha).any(axis=1).mean())
    final_fp = float((naive.p_value[:, -1] < alpha).mean())
    return {"sequential_fpr": seq_fp, "naive_peeking_fpr": naive_fp, "fixed_horizon_fpr": final_fp,
            "experiments": n_experiments, "looks": looks}
