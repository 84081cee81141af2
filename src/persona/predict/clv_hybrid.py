"""A hybrid transaction model: BG/NBD plus a gradient-boosted correction learnt from rolling backtests.

BG/NBD sees only (frequency, recency, T). The hybrid keeps its prediction as an offset and lets a small
LightGBM Poisson model learn a multiplicative correction from more of the history (recent activity in the
last 4 and 13 weeks) and from BG/NBD's own posterior (P(alive), expected purchases next week). The correction
is trained on time-based backtests *inside* the calibration period: at several earlier cut-offs c a BG/NBD is
fit on the data up to c, features are computed at c and the target is each customer's repeat purchases in
(c, calibration end]. Nothing after the calibration end is ever read.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from persona.errors import InputError, NotFittedError
from persona.persistence import load_estimator, save_estimator
from persona.predict.clv import BetaGeoModel
from persona.predict.clv_summary import UNITS, PurchaseDays, TransactionColumns

log = logging.getLogger(__name__)

FEATURES = ("x", "gap", "rate", "p_alive", "e_next", "n_recent_4w", "n_recent_13w")


def _features(days: PurchaseDays, summary: pd.DataFrame, model: BetaGeoModel, cutoff: pd.Timestamp, unit: float) -> pd.DataFrame:
    x, tx, T = summary["frequency"].to_numpy(), summary["recency"].to_numpy(), summary["T"].to_numpy()
    f = pd.DataFrame(
        {
            "x": x,
            "gap": T - tx,
            "rate": np.divide(x, T, out=np.zeros_like(x, dtype=float), where=T > 0),
            "p_alive": model.probability_alive(x, tx, T),
            "e_next": model.conditional_expected_purchases(7.0 / unit, x, tx, T),
        },
        index=summary.index,
    )
    for weeks in (4, 13):
        f[f"n_recent_{weeks}w"] = days.recent_days(cutoff, 7 * weeks).reindex(summary.index).fillna(0).to_numpy()
    return f


class HybridTransactionModel:
    """BG/NBD with a LightGBM correction trained on within-calibration rolling backtests.

    Args:
        n_cutoffs: how many earlier cut-offs to backtest on (spread over the later part of the calibration).
        min_horizon_days: the last cut-off lies at least this many days before the calibration end.
        first_cut_fraction: the first cut-off lies this fraction of the calibration span after the first day.
        horizon_feature: also give the booster the backtest horizon (so the correction may depend on it).
        refit_per_cutoff: fit a BG/NBD at every cut-off for its offsets (True), or score every cut-off with the
            BG/NBD fit on the whole calibration period (False: steadier when early cut-offs hold short histories).
        n_estimators, learning_rate, num_leaves, min_child_samples: the LightGBM booster.
        n_seeds: boosters averaged (each with its own subsample), to reduce variance.
        freq: time unit of the BG/NBD summary ("W" or "D").
        seed: random seed.
    """

    def __init__(
        self,
        n_cutoffs: int = 16,
        min_horizon_days: int = 28,
        first_cut_fraction: float = 1 / 3,
        horizon_feature: bool = False,
        refit_per_cutoff: bool = True,
        n_estimators: int = 300,
        learning_rate: float = 0.03,
        num_leaves: int = 4,
        min_child_samples: int = 100,
        n_seeds: int = 3,
        freq: str = "W",
        seed: int = 42,
    ) -> None:
        self.n_cutoffs = n_cutoffs
        self.min_horizon_days = min_horizon_days
        self.first_cut_fraction = first_cut_fraction
        self.horizon_feature = horizon_feature
        self.refit_per_cutoff = refit_per_cutoff
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.n_seeds = n_seeds
        self.freq = freq
        self.seed = seed

    def _validate(self) -> None:
        if self.freq not in UNITS:
            raise InputError(f"freq={self.freq!r} is not supported", hint=f"use one of {sorted(UNITS)}")
        for name in ("n_cutoffs", "min_horizon_days", "n_estimators", "num_leaves", "min_child_samples", "n_seeds"):
            v = getattr(self, name)
            if not (isinstance(v, int) and v >= 1):
                raise InputError(f"{name}={v!r} must be a positive integer", hint="see HybridTransactionModel's defaults")
        if not (isinstance(self.first_cut_fraction, int | float) and 0 < self.first_cut_fraction < 1):
            raise InputError(f"first_cut_fraction={self.first_cut_fraction!r} must be in (0, 1)", hint="e.g. 1/3")

    def fit(self, transactions: pd.DataFrame, calibration_end: str | pd.Timestamp, columns: TransactionColumns | None = None) -> HybridTransactionModel:
        """Fit BG/NBD on the calibration period and the correction on backtests inside it.

        Args:
            transactions: one row per transaction (customer, date, revenue); rows after ``calibration_end`` are ignored.
            calibration_end: last day of the calibration period.
            columns: column names of ``transactions``.

        Returns:
            self

        Raises:
            InputError: bad parameters, or a calibration period too short for any backtest.
        """
        import lightgbm as lgb

        self._validate()
        cols = columns or TransactionColumns()
        unit = UNITS[self.freq]
        cal_end = pd.Timestamp(calibration_end).normalize()
        tx = transactions[pd.to_datetime(transactions[cols.date]).dt.normalize() <= cal_end]
        days = PurchaseDays(tx, cols)
        summary = days.summary(cal_end, freq=self.freq)
        self.bgnbd_ = BetaGeoModel().fit(summary["frequency"], summary["recency"], summary["T"])
        first_day = days.first_day()
        span = (cal_end - first_day).days
        last_cut = span - self.min_horizon_days
        first_cut = max(int(span * self.first_cut_fraction), 14)
        if last_cut <= first_cut:
            raise InputError(
                f"the calibration period ({span} days) is too short for rolling backtests",
                hint=f"use at least {3 * self.min_horizon_days // 2 + 21} days of history or the plain BetaGeoModel",
            )
        cut_days = np.unique(np.linspace(first_cut, last_cut, self.n_cutoffs).round().astype(int))
        X, y, offset = [], [], []
        for d in cut_days:
            cut = first_day + pd.Timedelta(days=int(d))
            s = days.summary(cut, observation_end=cal_end, freq=self.freq)
            m = self.bgnbd_
            if self.refit_per_cutoff:
                m = BetaGeoModel()
                m.warm_start_ = np.array(list(self.bgnbd_.params_.values()))
                m.fit(s["frequency"], s["recency"], s["T"])
            h = float(s["duration_holdout"].iloc[0])
            f = _features(days, s, m, cut, unit)
            f["horizon"] = h
            X.append(f)
            y.append(s["frequency_holdout"].to_numpy())
            offset.append(np.log(m.conditional_expected_purchases(h, s["frequency"], s["recency"], s["T"]) + 1e-6))
        Xa = pd.concat(X)[self._feature_names()]
        ya, oa = np.concatenate(y), np.concatenate(offset)
        self.boosters_ = []
        for k in range(self.n_seeds):
            b = lgb.LGBMRegressor(
                objective="poisson", n_estimators=self.n_estimators, learning_rate=self.learning_rate,
                num_leaves=self.num_leaves, min_child_samples=self.min_child_samples, subsample=0.8, subsample_freq=1,
                colsample_bytree=0.8, random_state=self.seed + k, verbose=-1, n_jobs=1,
            )
            b.fit(Xa, ya, init_score=oa)
            self.boosters_.append(b)
        self.calibration_end_ = cal_end
        self.summary_ = summary
        self.features_ = _features(days, summary, self.bgnbd_, cal_end, unit)[list(FEATURES)]
        self.backtest_cutoffs_ = [str((first_day + pd.Timedelta(days=int(d))).date()) for d in cut_days]
        self.n_training_rows_ = len(ya)
        log.info("hybrid cutoffs=%d rows=%d", len(cut_days), len(ya))
        return self

    def _feature_names(self) -> list[str]:
        return [*FEATURES, "horizon"] if self.horizon_feature else list(FEATURES)

    def _check(self) -> None:
        if not hasattr(self, "boosters_"):
            raise NotFittedError(self)

    def correction(self, t: float | None = None) -> np.ndarray:
        """The learnt multiplicative correction of BG/NBD's prediction for each calibration customer.

        Args:
            t: the prediction horizon; needed only when the model was fit with ``horizon_feature``.
        """
        self._check()
        f = self.features_
        if getattr(self, "horizon_feature", False):
            if t is None:
                raise InputError("this hybrid was fit with horizon_feature=True: its correction depends on the horizon", hint="pass t")
            f = f.assign(horizon=float(t))
        return np.exp(np.mean([b.predict(f, raw_score=True) for b in self.boosters_], axis=0))

    def predict(self, t: float) -> pd.Series:
        """Expected repeat purchases of every calibration customer in the next ``t`` time units (weeks for freq W).

        Returns:
            Series indexed by customer_id.
        """
        self._check()
        s = self.summary_
        base = self.bgnbd_.conditional_expected_purchases(t, s["frequency"], s["recency"], s["T"])
        return pd.Series(base * self.correction(t), index=s.index, name="expected_purchases")

    def conditional_expected_purchases(self, t: Any, frequency: Any, recency: Any, T: Any) -> np.ndarray:
        """CLV protocol: expected purchases in t for the calibration customers (the summary arrays must be theirs)."""
        self._check()
        base = self.bgnbd_.conditional_expected_purchases(t, frequency, recency, T)
        if np.shape(base) != (len(self.summary_),):
            raise InputError("the hybrid model scores only the customers it was fit on", hint="pass the model's own summary_")
        if np.ndim(t) and getattr(self, "horizon_feature", False):
            raise InputError("a hybrid fit with horizon_feature=True scores one horizon at a time", hint="pass a scalar t")
        return base * self.correction(float(t) if not np.ndim(t) else None)

    def save(self, path: str | Path) -> Path:
        """Pickle the fitted model to ``path``."""
        self._check()
        return save_estimator(self, path)

    @classmethod
    def load(cls, path: str | Path) -> HybridTransactionModel:
        """Load a model saved with :meth:`save`."""
        return load_estimator(cls, path)
