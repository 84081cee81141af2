"""Calibration/holdout evaluation of the CLV models on a transactions file (e.g. the CDNOW sample)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd

from persona.errors import InputError
from persona.predict.clv import BetaGeoModel, ParetoNBDModel
from persona.predict.clv_burst import BurstBetaGeoModel, repeat_purchase_ages
from persona.predict.clv_gamma_gamma import GammaGammaModel
from persona.predict.clv_hybrid import HybridTransactionModel
from persona.predict.clv_select import SelectedTransactionModel
from persona.predict.clv_summary import UNITS, rfm_summary
from persona.predict.clv_tracking import tracking_curves


def _scores(pred: np.ndarray, actual: np.ndarray) -> dict[str, float]:
    return {
        "holdout_rmse": float(np.sqrt(np.mean((pred - actual) ** 2))),
        "holdout_mae": float(np.mean(np.abs(pred - actual))),
        "holdout_total_predicted": float(pred.sum()),
        "holdout_total_actual": float(actual.sum()),
    }


def utc_days(values: pd.Series, *, what: str = "column 'date'") -> pd.Series:
    """Transaction times as tz-naive UTC timestamps: ``...Z`` / ``+02:00`` times are converted to UTC, naive ones
    are taken as UTC, so both kinds can be compared with each other and with a calibration day.

    Raises:
        InputError: a value is not a date (the first few are named).
    """
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert("UTC").dt.tz_localize(None)
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        return values
    parsed = pd.to_datetime(values, utc=True, errors="coerce", format="mixed")
    bad = parsed.isna() & values.notna() & (values.astype(str).str.strip() != "")
    if bad.any() or parsed.isna().all():
        examples = ", ".join(repr(v) for v in values[bad | parsed.isna()].astype(str).unique()[:3])
        raise InputError(f"{what}: {int((bad | parsed.isna()).sum())} value(s) are not dates (e.g. {examples})",
                         hint="use ISO dates such as 2025-01-31 or 2025-01-31T10:00:00Z")
    return parsed.dt.tz_localize(None)


def _day(value: str | pd.Timestamp, option: str) -> pd.Timestamp:
    """A calibration/observation day from the user; a time zone is converted to UTC."""
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise InputError(f"{option} {value!r} is not a date", hint=f"pass {option} as YYYY-MM-DD, e.g. 2025-06-30") from exc
    if pd.isna(ts):
        raise InputError(f"{option} {value!r} is not a date", hint=f"pass {option} as YYYY-MM-DD, e.g. 2025-06-30")
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts.normalize()


def default_calibration_end(first: pd.Timestamp, end: pd.Timestamp) -> pd.Timestamp:
    """The default calibration end: the middle day of ``[first, end]``, so calibration and holdout are (about) as long
    as each other, as in the CDNOW benchmark (39 weeks of 78: 1997-01-01..1997-09-30, holdout to 1998-06-30)."""
    return first + pd.Timedelta(days=(end - first).days // 2)


def evaluate_clv(
    transactions: pd.DataFrame,
    calibration_end: str | pd.Timestamp | None = None,
    *,
    observation_end: str | pd.Timestamp | None = None,
    freq: str = "W",
    seed: int = 42,
    hybrid: bool = True,
    hybrid_params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Fit every CLV model on the calibration period and score repeat transactions in the holdout.

    Args:
        transactions: DataFrame[customer_id, date, revenue]; dates with a time zone (``...Z``) are converted to UTC.
        calibration_end: last calibration day; default: the middle day between the first transaction and
            ``observation_end`` (or the last transaction), so the holdout is as long as the calibration period
            (:func:`default_calibration_end`). The holdout runs from the next day to ``observation_end``
            (default: as long as the calibration period, first transaction day included).
        freq: "W" or "D" time unit of the models.
        seed: seed of the hybrid model.
        hybrid: also fit :class:`HybridTransactionModel` with fixed settings (``hybrid_params``), and
            :class:`SelectedTransactionModel` (``selected``), whose model and settings are chosen by backtests
            inside the calibration period only.

    Returns:
        ``{"calibration_end", "observation_end", "n_customers", "models": {name: {params, log_likelihood, holdout_*, fit_seconds}},
        "tracking"}``: ``tracking`` holds the weekly repeat purchases, actual against each BTYD model's unconditional
        expectation (:func:`persona.predict.clv_tracking.tracking_curves`).

    Raises:
        InputError: a date that is not a date, dates out of order, or no holdout transactions window.
    """
    if len(transactions) == 0:
        raise InputError("the transactions file has no rows", hint="pass a file with customer_id, date and revenue rows")
    transactions = transactions.assign(date=utc_days(transactions["date"]))
    first = transactions["date"].min().normalize()
    last = transactions["date"].max().normalize()
    span = f"the data run from {first.date()} to {last.date()}"
    obs_end = _day(observation_end, "--observation-end") if observation_end is not None else None
    if calibration_end is None:
        cal_end = default_calibration_end(first, min(obs_end, last) if obs_end is not None else last)
    else:
        cal_end = _day(calibration_end, "--calibration-end")
    if cal_end < first:
        raise InputError(f"calibration end {cal_end.date()} is before the first transaction ({first.date()}); {span}",
                         hint="pass a --calibration-end inside the data")
    if cal_end >= last:
        raise InputError(f"calibration end {cal_end.date()} is on or after the last transaction ({last.date()}): "
                         f"no holdout transactions; {span}", hint="pass an earlier --calibration-end inside the data")
    if obs_end is None:
        obs_end = cal_end + (cal_end - first) + pd.Timedelta(days=1)
    if obs_end <= cal_end:
        raise InputError(f"observation end {obs_end.date()} is not after calibration end {cal_end.date()}: no holdout period",
                         hint="pass a later --observation-end")
    s = rfm_summary(transactions, cal_end, observation_end=obs_end, freq=freq)
    h = float(s["duration_holdout"].iloc[0])
    x, tx, T, y = s["frequency"], s["recency"], s["T"], s["frequency_holdout"].to_numpy()
    models: dict[str, Any] = {}
    fitted: dict[str, Any] = {}
    for name, cls in (("bgnbd", BetaGeoModel), ("pareto_nbd", ParetoNBDModel)):
        t0 = time.perf_counter()
        m = cls().fit(x, tx, T)
        fit_s = time.perf_counter() - t0
        pred = m.conditional_expected_purchases(h, x, tx, T)
        fitted[name] = m
        models[name] = {"params": m.params_, "log_likelihood": m.log_likelihood_, **_scores(pred, y), "fit_seconds": fit_s}
    t0 = time.perf_counter()
    bm = BurstBetaGeoModel().fit(x, tx, T, repeat_purchase_ages(transactions, cal_end, freq=freq))
    fit_s = time.perf_counter() - t0
    pred = bm.conditional_expected_purchases(h, x, tx, T)
    fitted["bgnbd_burst"] = bm
    models["bgnbd_burst"] = {"params": bm.params_, "log_likelihood": bm.log_likelihood_, **_scores(pred, y), "fit_seconds": fit_s}
    t0 = time.perf_counter()
    gg = GammaGammaModel().fit(x, s["monetary_value"])
    fit_s = time.perf_counter() - t0
    rep = (s["frequency"] > 0) & (s["frequency_holdout"] > 0) & (s["monetary_value"] > 0)
    spend = gg.conditional_expected_average_spend(s["frequency"][rep], s["monetary_value"][rep])
    actual_spend = s["monetary_holdout"][rep].to_numpy()
    models["gamma_gamma"] = {
        "params": gg.params_,
        "log_likelihood": gg.log_likelihood_,
        "n_customers": gg.n_customers_,
        "holdout_spend_mae": float(np.mean(np.abs(spend - actual_spend))),
        "holdout_spend_mean_predicted": float(spend.mean()),
        "holdout_spend_mean_actual": float(actual_spend.mean()),
        "fit_seconds": fit_s,
    }
    if hybrid:
        t0 = time.perf_counter()
        hm = HybridTransactionModel(freq=freq, seed=seed, **(hybrid_params or {})).fit(transactions, cal_end)
        fit_s = time.perf_counter() - t0
        pred = hm.predict(h).reindex(s.index).to_numpy()
        models["hybrid"] = {
            "params": {**hm.bgnbd_.params_, "backtest_cutoffs": hm.backtest_cutoffs_, "n_training_rows": hm.n_training_rows_},
            "log_likelihood": None,
            **_scores(pred, y),
            "fit_seconds": fit_s,
        }
    if hybrid:
        t0 = time.perf_counter()
        sm = SelectedTransactionModel(freq=freq, seed=seed).fit(transactions, cal_end)
        fit_s = time.perf_counter() - t0
        pred = sm.predict(h).reindex(s.index).to_numpy()
        sel = sm.selection_
        models["selected"] = {
            "params": {"chosen": sm.chosen_, "total_constraint_met": sel["total_constraint_met"], "inner_origins": sel["origins"],
                       "inner_scores": {n: {"mean_inner_rmse": c["mean_inner_rmse"], "inner_total_ratio": c["inner_total_ratio"]}
                                        for n, c in sel["candidates"].items()}},
            "log_likelihood": None,
            **_scores(pred, y),
            "fit_seconds": fit_s,
        }
    models["zero"] = {"params": {}, "log_likelihood": None, **_scores(np.zeros_like(y), y), "fit_seconds": 0.0}
    return {
        "calibration_end": str(cal_end.date()),
        "observation_end": str(obs_end.date()),
        "time_unit": {"W": "weeks", "D": "days"}[freq] if freq in UNITS else freq,
        "holdout_length": h,
        "n_customers": int(len(s)),
        "models": models,
        "tracking": tracking_curves(transactions, cal_end, obs_end, fitted, freq=freq),
    }
