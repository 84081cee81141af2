"""Revenue forecast by day or week with weekly and yearly seasonality, prediction intervals and a backtest.

The model is a structural time series (statsmodels ``UnobservedComponents``): a local linear trend plus
trigonometric seasonal terms (weekly for daily data; yearly when at least two years of history exist), fit by
maximum likelihood. The rolling-origin backtest refits at several origins and compares MAPE / sMAPE with a
seasonal-naive forecast (the same day last week, or the same week last year / last week's value).
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

import numpy as np
import pandas as pd

from persona.errors import InputError, NotFittedError

log = logging.getLogger(__name__)
FREQS = {"D": ("D", 7, 365.25), "W": ("W-SUN", 1, 365.25 / 7)}


def revenue_series(transactions: pd.DataFrame, freq: str = "D") -> pd.Series:
    """Total revenue per day (``D``) or week ending Sunday (``W``), zero-filled between the first and last period.

    Raises:
        InputError: unknown freq or no transactions.
    """
    if freq not in FREQS:
        raise InputError(f"freq={freq!r} is not supported", hint="use D (daily) or W (weekly)")
    if transactions.empty:
        raise InputError("no transactions to forecast", hint="ingest purchase events first")
    d = pd.to_datetime(transactions["date"])
    if getattr(d.dt, "tz", None) is not None:
        d = d.dt.tz_convert(None)
    s = pd.Series(pd.to_numeric(transactions["revenue"], errors="coerce").fillna(0.0).to_numpy(), index=d.to_numpy())
    out = s.resample(FREQS[freq][0]).sum()
    out.index.name = "date"
    return out.rename("revenue")


def _seasonal(freq: str, n: int) -> list[dict[str, float]]:
    _, weekly, yearly = FREQS[freq]
    terms = []
    if weekly > 1 and n >= 3 * weekly:
        terms.append({"period": weekly, "harmonics": 3})
    if n >= 2 * yearly:
        terms.append({"period": yearly, "harmonics": 3 if freq == "D" else 4})
    return terms


class RevenueForecaster:
    """Structural time-series forecaster of a revenue series.

    Args:
        freq: ``"D"`` or ``"W"``.
        interval: coverage of the prediction interval (e.g. 0.9).
        trend: ``"local linear trend"`` or ``"local level"``.
    """

    def __init__(self, freq: str = "D", interval: float = 0.9, trend: str = "local level") -> None:
        self.freq = freq
        self.interval = interval
        self.trend = trend

    def fit(self, series: pd.Series) -> RevenueForecaster:
        """Fit on a regular series (index = period starts/ends, values = revenue).

        Raises:
            InputError: bad parameters or fewer than 8 periods.
        """
        from statsmodels.tsa.statespace.structural import UnobservedComponents

        if self.freq not in FREQS:
            raise InputError(f"freq={self.freq!r} is not supported", hint="use D or W")
        if not 0 < self.interval < 1:
            raise InputError(f"interval={self.interval!r} must be in (0, 1)", hint="e.g. 0.9")
        if self.trend not in ("local linear trend", "local level"):
            raise InputError(f"trend={self.trend!r} is unknown", hint="use 'local linear trend' or 'local level'")
        if len(series) < 8:
            raise InputError(f"{len(series)} periods of history are too few to forecast", hint="need at least 8 days or weeks")
        y = series.astype(float).to_numpy()
        self.seasonal_ = _seasonal(self.freq, len(y))
        model = UnobservedComponents(y, level=self.trend, freq_seasonal=self.seasonal_ or None)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.result_ = model.fit(disp=False, maxiter=200)
        self.index_ = series.index
        return self

    def forecast(self, horizon: int) -> pd.DataFrame:
        """DataFrame[date, forecast, lower, upper] for the next ``horizon`` periods (bounds clipped at 0).

        Raises:
            NotFittedError: before fit. InputError: horizon < 1.
        """
        if not hasattr(self, "result_"):
            raise NotFittedError(self)
        if horizon < 1:
            raise InputError(f"horizon={horizon} must be >= 1", hint="e.g. --horizon 28")
        fc = self.result_.get_forecast(horizon)
        ci = np.asarray(fc.conf_int(alpha=1 - self.interval))
        dates = pd.date_range(self.index_[-1], periods=horizon + 1, freq=FREQS[self.freq][0])[1:]
        return pd.DataFrame(
            {"date": dates, "forecast": np.clip(fc.predicted_mean, 0, None), "lower": np.clip(ci[:, 0], 0, None), "upper": np.clip(ci[:, 1], 0, None)}
        )


def seasonal_naive(history: pd.Series, horizon: int, freq: str) -> np.ndarray:
    """Repeat the last season (last week for daily data, the same week last year or else last week for weekly)."""
    period = 7 if freq == "D" else (52 if len(history) >= 52 else 1)
    last = history.to_numpy()[-period:]
    return np.resize(last, horizon)


def _mape(actual: np.ndarray, pred: np.ndarray) -> float:
    nz = actual != 0
    return float(np.mean(np.abs((actual[nz] - pred[nz]) / actual[nz]))) if nz.any() else float("nan")


def _smape(actual: np.ndarray, pred: np.ndarray) -> float:
    den = np.abs(actual) + np.abs(pred)
    ok = den > 0
    return float(np.mean(2 * np.abs(actual[ok] - pred[ok]) / den[ok])) if ok.any() else float("nan")


def rolling_backtest(series: pd.Series, *, freq: str = "D", horizon: int = 14, n_origins: int = 3, interval: float = 0.9) -> dict[str, Any]:
    """Refit at ``n_origins`` origins (the last ones spaced by ``horizon``) and score each next-``horizon`` forecast.

    Returns:
        mean MAPE / sMAPE of the model and of the seasonal-naive baseline, interval coverage, and per-fold scores.

    Raises:
        InputError: not enough history for the folds.
    """
    n = len(series)
    first_origin = n - n_origins * horizon
    if first_origin < max(8, 2 * (7 if freq == "D" else 1)):
        raise InputError(f"{n} periods are too few for {n_origins} folds of {horizon}", hint="lower --horizon or the number of folds")
    folds = []
    for k in range(n_origins):
        o = first_origin + k * horizon
        hist, actual = series.iloc[:o], series.iloc[o : o + horizon].to_numpy()
        fc = RevenueForecaster(freq=freq, interval=interval).fit(hist).forecast(len(actual))
        pred = fc["forecast"].to_numpy()
        naive = seasonal_naive(hist, len(actual), freq)
        folds.append(
            {
                "origin": str(series.index[o - 1].date()),
                "mape": _mape(actual, pred),
                "smape": _smape(actual, pred),
                "mape_seasonal_naive": _mape(actual, naive),
                "smape_seasonal_naive": _smape(actual, naive),
                "coverage": float(np.mean((actual >= fc["lower"].to_numpy()) & (actual <= fc["upper"].to_numpy()))),
            }
        )
    keys = ["mape", "smape", "mape_seasonal_naive", "smape_seasonal_naive", "coverage"]
    return {"freq": freq, "horizon": horizon, "interval": interval, **{k: float(np.nanmean([f[k] for f in folds])) for k in keys}, "folds": folds}
