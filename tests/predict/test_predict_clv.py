"""BG/NBD, Pareto/NBD and Gamma-Gamma: the published CDNOW figures, synthetic recovery, and the estimator contract."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, optimize
from scipy.special import gammaln, hyp2f1
from shared_data import shared_data

from persona.errors import InputError, NotFittedError
from persona.predict.clv import BetaGeoModel, ParetoNBDModel
from persona.predict.clv_gamma_gamma import GammaGammaModel
from persona.predict.clv_summary import PurchaseDays, rfm_summary


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    from persona.ingest.adapters.cdnow import read_cdnow_transactions

    return read_cdnow_transactions(shared_data("cdnow", "CDNOW_sample.txt"))


@pytest.fixture(scope="module")
def summary(cdnow: pd.DataFrame) -> pd.DataFrame:
    return rfm_summary(cdnow, "1997-09-30", observation_end="1998-06-30")


def test_summary_matches_the_published_cdnow_summary(cdnow: pd.DataFrame, summary: pd.DataFrame) -> None:
    ref = pd.read_csv(shared_data("cdnow", "cdnow_customers_summary.csv")).set_index("ID")
    ids = cdnow.drop_duplicates("customer_id").set_index("customer_id")["sample_id"].astype(int)
    mine = summary.set_index(ids.reindex(summary.index).to_numpy()).sort_index()
    assert len(mine) == 2357 and (mine.index == ref.index).all()
    assert (mine["frequency"].to_numpy() == ref["frequency"].to_numpy()).all()
    np.testing.assert_allclose(mine["recency"], ref["recency"], atol=0.006)  # the CSV rounds weeks to 2 decimals
    np.testing.assert_allclose(mine["T"], ref["T"], atol=0.006)
    assert summary["frequency"].sum() == 2457 and summary["frequency_holdout"].sum() == 1882


def test_bgnbd_reproduces_fader_hardie_lee_2005(summary: pd.DataFrame) -> None:
    m = BetaGeoModel().fit(summary["frequency"], summary["recency"], summary["T"])
    p = m.params_
    assert round(p["r"], 3) == 0.243 and round(p["alpha"], 3) == 4.414
    assert round(p["a"], 3) == 0.793 and round(p["b"], 3) == 2.426
    assert round(m.log_likelihood_, 1) == -9582.4
    pred = m.conditional_expected_purchases(39, summary["frequency"], summary["recency"], summary["T"])
    assert round(float(np.sqrt(np.mean((pred - summary["frequency_holdout"]) ** 2))), 3) == 1.608
    assert round(float(pred.sum())) == 1653


def test_pareto_nbd_reproduces_the_published_fit(summary: pd.DataFrame) -> None:
    m = ParetoNBDModel().fit(summary["frequency"], summary["recency"], summary["T"])
    p = m.params_  # Fader & Hardie (2005) note: r=0.5533, alpha=10.5776, s=0.6061, beta=11.6650, LL=-9595.0
    assert round(p["r"], 2) == 0.55 and round(p["alpha"], 1) == 10.6 and round(p["s"], 2) == 0.61 and round(p["beta"], 1) == 11.7
    assert round(m.log_likelihood_, 1) == -9595.0
    # the optimum itself (the paper's solver stopped a little short of it): a faster fit must give none of it away
    assert m.converged_ and m.log_likelihood_ == pytest.approx(-9594.976178940, abs=1e-6)
    np.testing.assert_allclose([p["r"], p["alpha"], p["s"], p["beta"]], [0.553277, 10.577683, 0.606240, 11.66873], rtol=1e-5)
    pred = m.conditional_expected_purchases(39, summary["frequency"], summary["recency"], summary["T"])
    assert round(float(np.sqrt(np.mean((pred - summary["frequency_holdout"]) ** 2))), 3) == 1.603


def test_gamma_gamma_reproduces_the_published_fit(summary: pd.DataFrame) -> None:
    g = GammaGammaModel().fit(summary["frequency"], summary["monetary_value"])
    assert g.n_customers_ == 946
    assert round(g.params_["p"], 2) == 6.25 and round(g.params_["q"], 2) == 3.74 and round(g.params_["gamma"], 2) == 15.44


def test_predictions_match_lifetimes(summary: pd.DataFrame) -> None:
    lifetimes = pytest.importorskip("lifetimes")
    x, r, T = summary["frequency"], summary["recency"], summary["T"]
    m = BetaGeoModel().fit(x, r, T)
    ref = lifetimes.BetaGeoFitter()
    ref.params_ = pd.Series({"r": m.params_["r"], "alpha": m.params_["alpha"], "a": m.params_["a"], "b": m.params_["b"]})
    ref.predict = ref.conditional_expected_number_of_purchases_up_to_time
    np.testing.assert_allclose(m.conditional_expected_purchases(10, x, r, T), ref.conditional_expected_number_of_purchases_up_to_time(10, x, r, T), rtol=1e-6)
    np.testing.assert_allclose(m.probability_alive(x, r, T), ref.conditional_probability_alive(x, r, T), rtol=1e-6)
    np.testing.assert_allclose(m.expected_purchases(np.array([5.0, 39.0])), ref.expected_number_of_purchases_up_to_time(np.array([5.0, 39.0])), rtol=1e-6)


def _simulate_bgnbd(n: int, r: float, alpha: float, a: float, b: float, T: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    lam = rng.gamma(r, 1 / alpha, n)
    p = rng.beta(a, b, n)
    x = np.zeros(n)
    tx = np.zeros(n)
    for i in range(n):
        t = 0.0
        while True:
            t += rng.exponential(1 / lam[i])
            if t > T:
                break
            x[i] += 1
            tx[i] = t
            if rng.random() < p[i]:
                break
    return x, tx, np.full(n, T)


def test_bgnbd_recovers_simulated_parameters() -> None:
    x, tx, T = _simulate_bgnbd(6000, 0.5, 2.0, 1.5, 3.0, 40.0, seed=3)
    m = BetaGeoModel().fit(x, tx, T)
    assert m.params_["r"] == pytest.approx(0.5, rel=0.15)
    assert m.params_["alpha"] == pytest.approx(2.0, rel=0.25)
    assert m.params_["a"] == pytest.approx(1.5, rel=0.35)
    assert m.params_["b"] == pytest.approx(3.0, rel=0.4)
    p = m.probability_alive(x, tx, T)
    assert ((p >= 0) & (p <= 1)).all() and (p[x == 0] == 1).all()
    # within a window, P(purchase) never exceeds P(alive) and grows with the window
    w1 = m.probability_purchase_within(4, x, tx, T)
    w2 = m.probability_purchase_within(12, x, tx, T)
    assert (w1 <= w2 + 1e-12).all() and (w2 <= p + 1e-12).all()


def test_clv_discounting_and_spend(summary: pd.DataFrame) -> None:
    x, r, T, mv = summary["frequency"], summary["recency"], summary["T"], summary["monetary_value"]
    bg = BetaGeoModel().fit(x, r, T)
    gg = GammaGammaModel().fit(x, mv)
    undiscounted = gg.customer_lifetime_value(bg, x, r, T, mv, horizon=52, period=52 / 12, discount_rate=0.0)
    discounted = gg.customer_lifetime_value(bg, x, r, T, mv, horizon=52, period=52 / 12, discount_rate=0.01)
    assert (discounted <= undiscounted + 1e-9).all() and (discounted > 0).all()
    spend = gg.conditional_expected_average_spend(x, mv)
    np.testing.assert_allclose(undiscounted, spend * bg.conditional_expected_purchases(52, x, r, T), rtol=1e-9)
    with pytest.raises(InputError):
        gg.customer_lifetime_value(bg, x, r, T, mv, horizon=0, period=1)


def test_estimator_contract(tmp_path, summary: pd.DataFrame) -> None:  # noqa: ANN001
    m = BetaGeoModel()
    with pytest.raises(NotFittedError, match="call fit first"):
        m.probability_alive([1], [1], [2])
    with pytest.raises(InputError, match="recency cannot exceed T"):
        m.fit([1, 2], [5, 1], [3, 3])
    with pytest.raises(InputError, match="frequency 0 must have recency 0"):
        m.fit([0], [1], [3])
    with pytest.raises(InputError, match="penalizer"):
        BetaGeoModel(penalizer=-1).fit([1], [1], [2])
    m.fit(summary["frequency"], summary["recency"], summary["T"])
    loaded = BetaGeoModel.load(m.save(tmp_path / "bg.pkl"))
    assert loaded.params_ == m.params_
    with pytest.raises(InputError):
        ParetoNBDModel.load(tmp_path / "bg.pkl")
    with pytest.raises(InputError, match="repeat purchases"):
        GammaGammaModel().fit([0, 0], [0, 0])


def test_summary_merges_same_day_and_validates() -> None:
    tx = pd.DataFrame(
        {"customer_id": ["a", "a", "a", "b", "c"], "date": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-01-15", "2024-01-08", "2024-02-01"]),
         "revenue": [10, 5, 20, 7, 3]}
    )
    s = rfm_summary(tx, "2024-01-29", freq="D")
    assert list(s.index) == ["a", "b"]  # c is acquired after the calibration end
    assert s.loc["a", "frequency"] == 1 and s.loc["a", "recency"] == 14 and s.loc["a", "T"] == 28
    assert s.loc["a", "monetary_value"] == 20 and s.loc["b", "monetary_value"] == 0
    with pytest.raises(InputError):
        rfm_summary(tx, "2024-01-29", freq="M")
    with pytest.raises(InputError):
        rfm_summary(tx, "2023-01-01")


def test_purchase_days_summarise_any_cutoff_as_the_history_up_to_it(cdnow: pd.DataFrame) -> None:
    days = PurchaseDays(cdnow)
    for cut, obs in (("1997-02-15", "1997-06-30"), ("1997-09-30", "1998-06-30"), ("1997-09-30", None)):
        upto = cdnow[cdnow["date"] <= (obs or cut)]  # rows after the period must not matter, to the last bit
        pd.testing.assert_frame_equal(days.summary(cut, observation_end=obs, freq="D"),
                                      rfm_summary(upto, cut, observation_end=obs, freq="D"), check_exact=True)


def test_purchase_days_count_recent_days_once_per_day() -> None:
    tx = pd.DataFrame({"customer_id": ["a", "a", "a", "a", "b", "c"],
                       "date": pd.to_datetime(["2024-01-01 09:00", "2024-01-20 09:00", "2024-01-20 18:00", "2024-01-28 09:00", "2024-01-02 09:00", "2024-02-01 09:00"])})
    recent = PurchaseDays(tx).recent_days(pd.Timestamp("2024-01-28"), 8)  # 2024-01-21 to 2024-01-28
    assert recent.to_dict() == {"a": 1}
    assert PurchaseDays(tx).recent_days(pd.Timestamp("2024-01-28"), 9).to_dict() == {"a": 2}


@pytest.mark.parametrize("model", [BetaGeoModel, ParetoNBDModel])
def test_a_calibration_period_with_no_time_after_first_purchases_is_refused(model) -> None:  # noqa: ANN001
    # one day of purchases: every T is 0, and the likelihood has nothing to learn a purchase rate from
    with pytest.raises(InputError, match="no time after it"):
        model().fit(np.zeros(5), np.zeros(5), np.zeros(5))


def _numeric_gradient(f, p: np.ndarray, h: float = 1e-6) -> np.ndarray:  # noqa: ANN001
    """Central differences of a per-row function: shape (n_params, n_rows)."""
    return np.array([(f(p + h * e) - f(p - h * e)) / (2 * h) for e in np.eye(len(p))])


def _rows(seed: int = 0, n: int = 60) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 7, n).astype(float)
    T = rng.uniform(0.5, 40, n)
    return x, np.where(x > 0, T * rng.uniform(0.05, 1, n), 0.0), T


def test_analytic_gradients_match_central_differences() -> None:
    from persona.predict.clv_burst import BurstBetaGeoModel

    x, tx, T = _rows()
    bg = BetaGeoModel()
    for p in (np.array([0.24, 4.4, 0.79, 2.4]), np.array([2.0, 0.5, 5.0, 0.3])):
        np.testing.assert_allclose(bg._loglik_grad(p, x, tx, T), _numeric_gradient(lambda q: bg._loglik(q, x, tx, T), p),
                                   rtol=1e-5, atol=1e-6)
    burst = BurstBetaGeoModel()
    burst._ages, burst._age_counts = np.array([0.5, 3.0, 20.0]), np.array([4.0, 2.0, 1.0])
    q = np.array([0.3, 7.0, 0.6, 2.5, 0.9, 5.0])
    np.testing.assert_allclose(burst._loglik_grad(q, x, tx, T), _numeric_gradient(lambda z: burst._loglik(z, x, tx, T), q),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(burst._extra_grad(q), _numeric_gradient(lambda z: np.array([burst._extra_loglik(z)]), q)[:, 0],
                               rtol=1e-5, atol=1e-6)
    gg = GammaGammaModel()
    f, m = x[x > 0], np.linspace(5.0, 80.0, int((x > 0).sum()))
    g = np.array([6.2, 3.7, 15.4])
    np.testing.assert_allclose(gg._loglik_grad(g, f, m), _numeric_gradient(lambda z: gg._loglik(z, f, m), g), rtol=1e-5, atol=1e-6)


def _pareto_closed_form(p: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Fader & Hardie's (2005) Pareto/NBD log-likelihood with the Gauss 2F1 (scipy's 2F1 is exact here for moderate s)."""
    r, alpha, s, beta = p
    rho = r + s + x
    m, b2 = (alpha, s + 1) if alpha >= beta else (beta, r + x)

    def part(t: np.ndarray) -> np.ndarray:
        return hyp2f1(rho, b2, rho + 1, abs(alpha - beta) / (m + t)) / (m + t) ** rho

    alive = (alpha + T) ** -(r + x) * (beta / (beta + T)) ** s
    return gammaln(r + x) - gammaln(r) + r * np.log(alpha) + np.log(alive + s / rho * beta**s * (part(tx) - part(T)))


def test_pareto_nbd_quadrature_equals_the_closed_form_and_its_gradient_is_exact() -> None:
    x, tx, T = _rows()
    m = ParetoNBDModel()
    for p in (np.array([0.5533, 10.5776, 0.6061, 11.665]), np.array([2.0, 0.5, 5.0, 0.3]), np.array([1.2, 7.0, 40.0, 2600.0])):
        np.testing.assert_allclose(m._loglik(p, x, tx, T), _pareto_closed_form(p, x, tx, T), rtol=0, atol=1e-11)
    for p in (np.array([0.5533, 10.5776, 0.6061, 11.665]), np.array([2.0, 0.5, 5.0, 0.3]), np.array([1.2, 7.0, 1e6, 1e6 / 0.015])):
        # by log-parameter, so that beta = 7e7 moves by a relative step too
        numeric = _numeric_gradient(lambda q: m._loglik(np.exp(q), x, tx, T), np.log(p))
        np.testing.assert_allclose(m._loglik_grad(p, x, tx, T) * p[:, None], numeric, rtol=1e-5, atol=1e-6)


def _simulate_one_death_rate(n: int, r: float, alpha: float, mu: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pareto/NBD customers who all die at the same rate mu (the s -> infinity limit), watched 5 to 52 weeks."""
    rng = np.random.default_rng(seed)
    T = rng.uniform(5, 52, n)
    watched = np.minimum(rng.exponential(1 / mu, n), T)
    x = rng.poisson(rng.gamma(r, 1 / alpha, n) * watched).astype(float)
    return x, np.where(x > 0, watched * rng.random(n) ** (1 / np.maximum(x, 1)), 0.0), T


def test_pareto_nbd_follows_the_ridge_to_one_death_rate_for_all(monkeypatch: pytest.MonkeyPatch) -> None:
    # one death rate for everyone: the likelihood keeps rising as s and beta grow together, towards the limit model
    x, tx, T = _simulate_one_death_rate(800, 1.0, 5.0, 0.03, seed=0)
    evaluations = []
    full = ParetoNBDModel._loglik_and_grad
    monkeypatch.setattr(ParetoNBDModel, "_loglik_and_grad", lambda self, *a: evaluations.append(1) or full(self, *a))
    m = ParetoNBDModel().fit(x, tx, T)
    r, alpha, s, beta = m._p()
    mu = s / beta
    assert m.converged_ and s > 1e6 and len(evaluations) < 150  # the Nelder-Mead walk took 3,305 evaluations on these data

    def limit_nll(q: np.ndarray) -> float:  # the limit model: r, alpha and one death rate
        lim.params_ = {"r": np.exp(q[0]), "alpha": np.exp(q[1]), "s": 1e15, "beta": 1e15 / np.exp(q[2])}
        return -lim.log_likelihood(x, tx, T)

    lim = ParetoNBDModel()
    best = optimize.minimize(limit_nll, np.log([0.5, 1.0, 0.1]), method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 4000})
    assert m.log_likelihood_ >= -best.fun - 1e-6
    # and it predicts as the limit model does: P(alive) by direct integration, expected purchases with exponential lifetimes
    rows = slice(0, 40)
    dead = [mu * integrate.quad(lambda u, x=x_, T=T_: np.exp(-mu * (u - T)) * ((alpha + T) / (alpha + u)) ** (r + x), tx_, T_, epsabs=0, epsrel=1e-12)[0]
            for x_, tx_, T_ in zip(x[rows], tx[rows], T[rows], strict=True)]
    p_alive = 1 / (1 + np.array(dead))
    np.testing.assert_allclose(m.probability_alive(x[rows], tx[rows], T[rows]), p_alive, rtol=1e-8)
    np.testing.assert_allclose(m.conditional_expected_purchases(10, x[rows], tx[rows], T[rows]),
                               (r + x[rows]) / (alpha + T[rows]) * -np.expm1(-10 * mu) / mu * p_alive, rtol=1e-8)
    np.testing.assert_allclose(m.expected_purchases(10.0), r / alpha * -np.expm1(-10 * mu) / mu, rtol=1e-8)


def test_the_analytic_fit_is_at_least_as_good_as_numeric_differences(summary: pd.DataFrame, monkeypatch: pytest.MonkeyPatch) -> None:
    cols = summary["frequency"], summary["recency"], summary["T"]
    analytic = BetaGeoModel().fit(*cols)
    monkeypatch.setattr(BetaGeoModel, "_loglik_grad", lambda self, *a: None)  # the numeric path, as before gradients
    numeric = BetaGeoModel().fit(*cols)
    assert analytic.converged_ and analytic.log_likelihood_ >= numeric.log_likelihood_ - 1e-6
    np.testing.assert_allclose(list(analytic.params_.values()), list(numeric.params_.values()), rtol=1e-4)
