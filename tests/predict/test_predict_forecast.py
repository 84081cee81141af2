"""Revenue forecast (structural time series) and next purchase date: synthetic series with known structure."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from persona.errors import InputError, NotFittedError
from persona.predict.forecast import RevenueForecaster, revenue_series, rolling_backtest, seasonal_naive
from persona.predict.next_purchase import backtest_next_purchase, predict_next_purchase


def _weekly_pattern_series(days: int = 210, seed: int = 0) -> pd.Series:
    rng = np.random.default_rng(seed)
    idx = pd.date_range("2024-01-01", periods=days, freq="D")
    pattern = np.array([100, 110, 120, 130, 160, 220, 90], dtype=float)
    y = pattern[idx.dayofweek] * (1 + 0.002 * np.arange(days)) + rng.normal(0, 8, days)
    return pd.Series(y, index=idx, name="revenue")


def test_revenue_series_zero_fills_and_resamples() -> None:
    tx = pd.DataFrame({"date": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-01-04"]), "revenue": [5.0, 7.0, 3.0], "customer_id": "a"})
    d = revenue_series(tx, "D")
    assert d.tolist() == [12.0, 0.0, 0.0, 3.0]
    w = revenue_series(tx, "W")
    assert w.sum() == 15.0 and len(w) == 1
    with pytest.raises(InputError):
        revenue_series(tx, "M")


def test_forecast_follows_weekly_seasonality_with_intervals() -> None:
    s = _weekly_pattern_series()
    f = RevenueForecaster(freq="D").fit(s)
    fc = f.forecast(14)
    assert list(fc.columns) == ["date", "forecast", "lower", "upper"] and len(fc) == 14
    assert fc["date"].iloc[0] == s.index[-1] + pd.Timedelta(days=1)
    assert (fc["lower"] <= fc["forecast"]).all() and (fc["forecast"] <= fc["upper"]).all()
    # Saturdays (dayofweek 5) forecast higher than Sundays (6), as in the data
    sat = fc.loc[fc["date"].dt.dayofweek == 5, "forecast"].mean()
    sun = fc.loc[fc["date"].dt.dayofweek == 6, "forecast"].mean()
    assert sat > sun + 80


def test_backtest_beats_seasonal_naive_on_noisy_seasonal_series() -> None:
    s = _weekly_pattern_series(seed=1)
    bt = rolling_backtest(s, freq="D", horizon=14, n_origins=3)
    assert bt["smape"] < bt["smape_seasonal_naive"]
    assert 0.6 <= bt["coverage"] <= 1.0 and len(bt["folds"]) == 3
    assert len(seasonal_naive(s, 10, "D")) == 10


def test_forecaster_contract() -> None:
    with pytest.raises(NotFittedError):
        RevenueForecaster().forecast(3)
    with pytest.raises(InputError):
        RevenueForecaster(freq="H").fit(_weekly_pattern_series())
    with pytest.raises(InputError, match="too few"):
        RevenueForecaster().fit(_weekly_pattern_series(5))
    with pytest.raises(InputError):
        rolling_backtest(_weekly_pattern_series(20), horizon=14, n_origins=3)


def _regular_buyers(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(400):
        gap = 7 if c < 200 else 60  # frequent and rare buyers
        t = pd.Timestamp("2024-01-01") + pd.Timedelta(days=int(rng.integers(0, 20)))
        while t < pd.Timestamp("2024-12-31"):
            rows.append({"customer_id": f"c{c}", "date": t, "revenue": 10.0})
            t += pd.Timedelta(days=max(1, int(rng.exponential(gap))))
    return pd.DataFrame(rows)


def test_next_purchase_ranks_frequent_buyers_first_and_backtests() -> None:
    tx = _regular_buyers()
    pred = predict_next_purchase(tx[tx["date"] <= "2024-09-30"], "2024-09-30", window_days=14)
    freq_p = pred.loc[[f"c{i}" for i in range(200)], "p_purchase_window"].mean()
    rare_p = pred.loc[[f"c{i}" for i in range(200, 400)], "p_purchase_window"].mean()
    assert freq_p > rare_p + 0.3
    assert (pred["next_purchase_date"] > pd.Timestamp("2024-09-30")).all()
    bt = backtest_next_purchase(tx, "2024-09-30", window_days=14)
    assert bt["auc"] > 0.8 and bt["brier"] < bt["brier_base_rate"]
    with pytest.raises(InputError):
        predict_next_purchase(tx, "2024-09-30", window_days=0)


def _lognormal_noise_series(days: int, sigma: float, seed: int) -> tuple[pd.Series, np.ndarray]:
    """Constant level x weekly pattern x exp(N(0, sigma)): the true quantiles of every day are known."""
    rng = np.random.default_rng(seed)
    idx = pd.date_range("2024-01-01", periods=days, freq="D")
    pattern = np.array([0.8, 0.9, 1.0, 1.0, 1.2, 1.5, 0.6])
    center = 1000.0 * pattern[idx.dayofweek]
    return pd.Series(center * np.exp(rng.normal(0, sigma, days)), index=idx, name="revenue"), center


def test_interval_coverage_matches_nominal_on_known_noise() -> None:
    from scipy.stats import norm

    from persona.predict.forecast import rolling_coverage

    sigma = 0.15
    s, center = _lognormal_noise_series(308, sigma, seed=3)
    rep = rolling_coverage(s, freq="D", horizon=14, step=14, first_origin=140, levels=(0.8, 0.95))
    assert rep["origins"] == 12
    assert abs(rep["coverage"][0.8] - 0.8) <= 0.08
    assert abs(rep["coverage"][0.95] - 0.95) <= 0.05
    # the interval is about as wide as the true one (the level is estimated, so a bit wider, never much narrower)
    true_width = float(np.mean(center * (np.exp(norm.ppf(0.9) * sigma) - np.exp(-norm.ppf(0.9) * sigma))))
    assert 0.9 <= rep["mean_width"][0.8] / true_width <= 1.5
    assert rep["smape"] < rep["smape_seasonal_naive"]


def test_log_scale_intervals_cover_busy_and_quiet_days_alike() -> None:
    """Multiplicative noise: raw-scale intervals (one variance for all days) over-cover quiet days, under-cover busy ones."""
    s, _ = _lognormal_noise_series(308, 0.3, seed=4)
    hits: dict[str, dict[int, list[bool]]] = {"log": {5: [], 6: []}, "none": {5: [], 6: []}}
    for o in range(140, 308 - 28 + 1, 14):
        for transform in hits:
            fc = RevenueForecaster(transform=transform).fit(s.iloc[:o]).forecast(28, interval=0.8)
            actual = s.iloc[o : o + 28].to_numpy()
            inside = (actual >= fc["lower"].to_numpy()) & (actual <= fc["upper"].to_numpy())
            for day in (5, 6):  # Saturday: 1.5x the level; Sunday: 0.6x
                hits[transform][day].extend(inside[fc["date"].dt.dayofweek.to_numpy() == day].tolist())
    cov = {t: {d: float(np.mean(v)) for d, v in days.items()} for t, days in hits.items()}
    assert abs(cov["log"][5] - 0.8) <= 0.12 and abs(cov["log"][6] - 0.8) <= 0.12
    assert cov["none"][6] - cov["none"][5] > 0.15  # the raw-scale model's quiet days are over-covered
    assert abs(cov["log"][6] - cov["log"][5]) < cov["none"][6] - cov["none"][5]


def test_calibrated_intervals_contract() -> None:
    s, _ = _lognormal_noise_series(210, 0.15, seed=5)
    f = RevenueForecaster(intervals="calibrated").fit(s)
    assert f.interval_method_ == "calibrated" and len(f.calibration_errors_) >= 30
    lo80, hi80 = f.error_quantiles(0.8)
    lo95, hi95 = f.error_quantiles(0.95)
    assert lo95 <= lo80 <= 0 <= hi80 <= hi95
    fc = f.forecast(14, interval=0.95)
    assert (fc["lower"] <= fc["forecast"]).all() and (fc["forecast"] <= fc["upper"]).all()
    short = RevenueForecaster(intervals="calibrated").fit(s.iloc[:20])
    assert short.interval_method_ == "model"  # too little history to calibrate on
    with pytest.raises(InputError):
        RevenueForecaster(intervals="conformal").fit(s)
    with pytest.raises(InputError):
        RevenueForecaster(transform="sqrt").fit(s)
    with pytest.raises(InputError):
        f.forecast(3, interval=1.5)
