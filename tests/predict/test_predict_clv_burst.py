"""BG/NBD with an onboarding burst: BG/NBD as its limit, stretched-time consistency, input checks, and CDNOW."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from shared_data import shared_data

from persona.errors import InputError
from persona.predict.clv import BetaGeoModel
from persona.predict.clv_burst import BurstBetaGeoModel, _stretch, repeat_purchase_ages
from persona.predict.clv_summary import rfm_summary

X = np.array([0.0, 1.0, 3.0, 6.0])
TX = np.array([0.0, 5.0, 20.0, 30.0])
T = np.array([30.0, 31.0, 35.0, 38.0])


def _with_params(theta: float, tau: float) -> BurstBetaGeoModel:
    m = BurstBetaGeoModel()
    m.params_ = {"r": 0.25, "alpha": 4.0, "a": 0.8, "b": 2.4, "theta": theta, "tau": tau}
    return m


def _bgnbd() -> BetaGeoModel:
    m = BetaGeoModel()
    m.params_ = {"r": 0.25, "alpha": 4.0, "a": 0.8, "b": 2.4}
    return m


def test_no_burst_is_bgnbd() -> None:
    burst, bg = _with_params(1e-12, 5.0), _bgnbd()
    for name in ("probability_alive", "median_time_to_next_purchase"):
        assert getattr(burst, name)(X, TX, T) == pytest.approx(getattr(bg, name)(X, TX, T), rel=1e-6)
    assert burst.conditional_expected_purchases(10.0, X, TX, T) == pytest.approx(bg.conditional_expected_purchases(10.0, X, TX, T), rel=1e-9)
    assert burst.probability_purchase_within(4.0, X, TX, T) == pytest.approx(bg.probability_purchase_within(4.0, X, TX, T), rel=1e-9)
    assert burst.expected_purchases(39.0) == pytest.approx(bg.expected_purchases(39.0), rel=1e-9)
    assert burst.log_likelihood(X, TX, T) == pytest.approx(bg.log_likelihood(X, TX, T), rel=1e-9)


def test_burst_is_bgnbd_in_stretched_time() -> None:
    burst, bg = _with_params(0.9, 5.0), _bgnbd()
    u_tx, u_T = _stretch(TX, 0.9, 5.0), _stretch(T, 0.9, 5.0)
    dt = _stretch(T + 13.0, 0.9, 5.0) - u_T
    assert burst.conditional_expected_purchases(13.0, X, TX, T) == pytest.approx(bg.conditional_expected_purchases(dt, X, u_tx, u_T), rel=1e-9)
    # a young customer's next weeks hold more stretched time (the burst), so more purchases than plain BG/NBD
    assert burst.expected_purchases(4.0) > bg.expected_purchases(4.0)
    # the median wait, mapped back to calendar time, covers the stretched median exactly
    med = burst.median_time_to_next_purchase(X, TX, T)
    target = bg.median_time_to_next_purchase(X, u_tx, u_T)
    assert _stretch(T + med, 0.9, 5.0) - u_T == pytest.approx(target, rel=1e-6)


def test_repeat_purchase_ages_count_days_once() -> None:
    tx = pd.DataFrame({"customer_id": ["a", "a", "a", "a", "b"],
                       "date": ["2024-01-01", "2024-01-08", "2024-01-08", "2024-02-05", "2024-01-03"],
                       "revenue": [1.0, 2.0, 3.0, 4.0, 5.0]})
    ages = repeat_purchase_ages(tx, "2024-01-31")
    assert ages.tolist() == [1.0]
    s = rfm_summary(tx, "2024-01-31")
    assert len(ages) == s["frequency"].sum()
    with pytest.raises(InputError, match="freq"):
        repeat_purchase_ages(tx, "2024-01-31", freq="Q")


@pytest.mark.parametrize(("ages", "match"), [(None, "needs the age"), ([1.0], "repeat purchase ages for a total"),
                                             ([0.0] * 10, "> 0"), ([np.nan] * 10, "finite")])
def test_refuses_missing_or_inconsistent_ages(ages, match: str) -> None:
    with pytest.raises(InputError, match=match):
        BurstBetaGeoModel().fit(X, TX, T, ages)


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    from persona.ingest.adapters.cdnow import read_cdnow_transactions

    return read_cdnow_transactions(shared_data("cdnow", "CDNOW_sample.txt"))


def test_cdnow_burst_fits_better_and_forecasts_the_holdout_better(cdnow: pd.DataFrame) -> None:
    s = rfm_summary(cdnow, "1997-09-30", observation_end="1998-06-30")
    x, tx, T_, y = (s[c].to_numpy(float) for c in ("frequency", "recency", "T", "frequency_holdout"))
    bg = BetaGeoModel().fit(x, tx, T_)
    m = BurstBetaGeoModel().fit(x, tx, T_, repeat_purchase_ages(cdnow, "1997-09-30"))
    assert m.converged_
    # two more parameters buy far more than two log-likelihood points (likelihood-ratio test)
    assert m.log_likelihood_ > bg.log_likelihood_ + 20
    assert m.params_["theta"] == pytest.approx(0.864, abs=0.01)
    assert m.params_["tau"] == pytest.approx(5.47, abs=0.05)
    pred, pred_bg = m.conditional_expected_purchases(39.0, x, tx, T_), bg.conditional_expected_purchases(39.0, x, tx, T_)
    rmse = float(np.sqrt(np.mean((pred - y) ** 2)))
    assert rmse < 1.603 < float(np.sqrt(np.mean((pred_bg - y) ** 2)))
    assert abs(pred.sum() - y.sum()) < abs(pred_bg.sum() - y.sum())
