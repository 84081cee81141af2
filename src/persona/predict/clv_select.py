"""Choose the transaction model (BG/NBD, Pareto/NBD or a hybrid setting) by backtests inside the calibration period.

The hybrid's settings (cut-off spacing, number of cut-offs, offsets) change its forecasts a lot, and picking them
while looking at a holdout overstates how well it does. :func:`select_transaction_model` therefore receives the
calibration data only (it drops every row after ``calibration_end`` itself), splits the calibration period at one
or more *inner* origins, fits every candidate on the data before each origin and scores its forecast of the repeat
purchases between that origin and the calibration end. The chosen candidate has the lowest mean inner RMSE among
those whose inner total stays within ``tolerance`` of the actual at every origin (the lowest mean RMSE overall when
none does). :class:`SelectedTransactionModel` runs the selection in ``fit`` and refits the winner on the whole
calibration period.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from persona.errors import InputError, NotFittedError
from persona.persistence import load_estimator, save_estimator
from persona.predict.clv import BetaGeoModel, ParetoNBDModel
from persona.predict.clv_burst import BurstBetaGeoModel, repeat_purchase_ages
from persona.predict.clv_hybrid import HybridTransactionModel
from persona.predict.clv_summary import UNITS, TransactionColumns, rfm_summary

log = logging.getLogger(__name__)

#: name -> (kind, constructor parameters). Kinds: "bgnbd", "pareto_nbd", "bgnbd_burst", "hybrid".
DEFAULT_CANDIDATES: dict[str, tuple[str, dict[str, Any]]] = {
    "bgnbd": ("bgnbd", {}),
    "pareto_nbd": ("pareto_nbd", {}),
    "bgnbd_burst": ("bgnbd_burst", {}),
    "hybrid": ("hybrid", {}),
    "hybrid_fixed_offsets": ("hybrid", {"refit_per_cutoff": False}),
    "hybrid_8_cutoffs_14d": ("hybrid", {"n_cutoffs": 8, "min_horizon_days": 14}),
    "hybrid_late_cutoffs": ("hybrid", {"first_cut_fraction": 0.5}),
}


def _fit_candidate(kind: str, params: dict[str, Any], tx: pd.DataFrame, end: pd.Timestamp, freq: str, seed: int, cols: TransactionColumns) -> Any:
    if kind == "hybrid":
        return HybridTransactionModel(freq=freq, seed=seed, **params).fit(tx, end, columns=cols)
    if kind in ("bgnbd", "pareto_nbd", "bgnbd_burst"):
        s = rfm_summary(tx, end, freq=freq, columns=cols)
        rfm = (s["frequency"], s["recency"], s["T"])
        if kind == "bgnbd_burst":
            model = BurstBetaGeoModel(**params).fit(*rfm, repeat_purchase_ages(tx, end, freq=freq, columns=cols))
        else:
            model = (BetaGeoModel if kind == "bgnbd" else ParetoNBDModel)(**params).fit(*rfm)
        return _SummaryModel(model, s)
    raise InputError(f"candidate kind {kind!r} is unknown", hint="use bgnbd, pareto_nbd, bgnbd_burst or hybrid")


#: below this many transactions the candidates are fitted one after another (workers cost more than they save)
PARALLEL_MIN_TRANSACTIONS = 20_000


def _workers(n_jobs: int | None, n_transactions: int, n_jobs_to_run: int) -> int:
    if n_jobs is None:
        n_jobs = (os.cpu_count() or 1) if n_transactions >= PARALLEL_MIN_TRANSACTIONS else 1
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs == 0 or n_jobs < -1:
        raise InputError(f"n_jobs={n_jobs!r} must be a positive integer, -1 (every core) or None (automatic)")
    wanted = (os.cpu_count() or 1) if n_jobs == -1 else n_jobs
    return max(1, min(wanted, n_jobs_to_run))


def _score_candidate(kind: str, params: dict[str, Any], tx: pd.DataFrame, origin: pd.Timestamp, h: float, index: pd.Index,
                     y: np.ndarray, freq: str, seed: int, cols: TransactionColumns) -> tuple[float, float] | str:
    """A candidate fit up to an inner origin, scored on the inner holdout: (RMSE, total ratio), or why it failed."""
    try:
        pred = _fit_candidate(kind, params, tx, origin, freq, seed, cols).predict(h).reindex(index).to_numpy()
    except InputError as exc:
        return f"{origin.date()}: {exc}"
    return float(np.sqrt(np.mean((pred - y) ** 2))), (float(pred.sum() / y.sum()) if y.sum() > 0 else float("nan"))


class _SummaryModel:
    """A BTYD model bound to the summary it was fit on, with the hybrid's ``predict(t)``."""

    def __init__(self, model: Any, summary: pd.DataFrame) -> None:
        self.model = model
        self.summary_ = summary

    def predict(self, t: float) -> pd.Series:
        s = self.summary_
        return pd.Series(self.model.conditional_expected_purchases(t, s["frequency"], s["recency"], s["T"]), index=s.index, name="expected_purchases")


def select_transaction_model(
    transactions: pd.DataFrame,
    calibration_end: str | pd.Timestamp,
    *,
    candidates: dict[str, tuple[str, dict[str, Any]]] | None = None,
    inner_holdout_fractions: tuple[float, ...] = (1 / 3, 1 / 2),
    tolerance: float = 0.05,
    freq: str = "W",
    seed: int = 42,
    columns: TransactionColumns | None = None,
    n_jobs: int | None = None,
) -> dict[str, Any]:
    """Score every candidate on inner backtests of the calibration period and pick one.

    Rows after ``calibration_end`` are dropped before anything else, so the choice cannot depend on them.

    Args:
        transactions: one row per transaction (customer, date, revenue).
        calibration_end: last day of the calibration period.
        candidates: ``{name: (kind, params)}``; default :data:`DEFAULT_CANDIDATES`.
        inner_holdout_fractions: each gives an inner origin that leaves this fraction of the calibration span as inner holdout.
        tolerance: allowed relative error of the inner holdout total.
        freq: time unit ("W" or "D"); seed: seed of the hybrids.
        n_jobs: candidates fitted at once (processes); None: every core from 20,000 transactions up, else 1.
            The figures do not depend on it.

    Returns:
        ``{"chosen", "total_constraint_met", "origins": [{origin, horizon, actual_total}], "candidates": {name: {rmse, total_ratio, ...}}}``

    Raises:
        InputError: bad arguments, or no candidate could be fit at any origin.
    """
    if freq not in UNITS:
        raise InputError(f"freq={freq!r} is not supported", hint=f"use one of {sorted(UNITS)}")
    if not inner_holdout_fractions or not all(0 < f < 1 for f in inner_holdout_fractions):
        raise InputError(f"inner_holdout_fractions={inner_holdout_fractions!r} must be fractions in (0, 1)", hint="e.g. (1/3, 1/2)")
    if not tolerance > 0:
        raise InputError(f"tolerance={tolerance!r} must be > 0", hint="e.g. 0.05 for +-5%")
    cols = columns or TransactionColumns()
    cands = candidates or DEFAULT_CANDIDATES
    cal_end = pd.Timestamp(calibration_end).normalize()
    all_days = pd.to_datetime(transactions[cols.date]).dt.normalize()
    keep = (all_days <= cal_end).to_numpy()
    tx, days = transactions[keep], all_days[keep]
    first = days.min()
    if pd.isna(first):
        raise InputError(f"no transactions on or before {cal_end.date()}", hint="choose a later calibration end")
    span = (cal_end - first).days
    unit = UNITS[freq]
    origins, scores = [], {name: {"rmse": [], "total_ratio": [], "failed": []} for name in cands}
    jobs = []
    for frac in inner_holdout_fractions:
        origin = first + pd.Timedelta(days=int(round(span * (1 - frac))))
        s = rfm_summary(tx, origin, observation_end=cal_end, freq=freq, columns=cols)
        h = float(s["duration_holdout"].iloc[0])
        y = s["frequency_holdout"].to_numpy()
        inner_tx = tx[(days <= origin).to_numpy()]
        origins.append({"origin": str(origin.date()), "horizon": h, "actual_total": float(y.sum())})
        jobs += [(name, kind, params, inner_tx, origin, h, s.index, y) for name, (kind, params) in cands.items()]
    workers = _workers(n_jobs, len(tx), len(jobs))
    if workers > 1:  # every fit is single-threaded and seeded: the same figures as one after another
        from joblib import Parallel, delayed

        results = Parallel(n_jobs=workers)(delayed(_score_candidate)(kind, params, itx, o, h, idx, y, freq, seed, cols)
                                           for _, kind, params, itx, o, h, idx, y in jobs)
    else:
        results = [_score_candidate(kind, params, itx, o, h, idx, y, freq, seed, cols) for _, kind, params, itx, o, h, idx, y in jobs]
    for (name, *_rest), res in zip(jobs, results, strict=True):
        if isinstance(res, str):  # e.g. an inner period too short for a hybrid's backtests
            scores[name]["failed"].append(res)
        else:
            scores[name]["rmse"].append(res[0])
            scores[name]["total_ratio"].append(res[1])
    table: dict[str, dict[str, Any]] = {}
    for name, sc in scores.items():
        ok = not sc["failed"]
        ratios = np.array(sc["total_ratio"], dtype=float)
        table[name] = {
            "kind": cands[name][0],
            "params": cands[name][1],
            "inner_rmse": sc["rmse"],
            "inner_total_ratio": sc["total_ratio"],
            "mean_inner_rmse": float(np.mean(sc["rmse"])) if ok else None,
            "total_within_tolerance": bool(ok and np.all(np.abs(ratios - 1) <= tolerance)),
            "failed": sc["failed"],
        }
    usable = {n: t for n, t in table.items() if t["mean_inner_rmse"] is not None}
    if not usable:
        raise InputError("no candidate could be backtested inside the calibration period", hint="use a longer calibration period")
    feasible = {n: t for n, t in usable.items() if t["total_within_tolerance"]}
    pool = feasible or usable
    chosen = min(pool, key=lambda n: pool[n]["mean_inner_rmse"])
    log.info("selected %s (inner rmse %.4f, total constraint met: %s)", chosen, pool[chosen]["mean_inner_rmse"], bool(feasible))
    return {
        "chosen": chosen,
        "total_constraint_met": bool(feasible),
        "tolerance": tolerance,
        "time_unit_days": unit,
        "data_end": str(cal_end.date()),
        "origins": origins,
        "candidates": table,
    }


class SelectedTransactionModel:
    """The transaction model chosen by :func:`select_transaction_model`, refit on the whole calibration period.

    Args:
        candidates, inner_holdout_fractions, tolerance, n_jobs: see :func:`select_transaction_model`.
        freq: time unit ("W" or "D"); seed: seed of the hybrids.
    """

    def __init__(
        self,
        candidates: dict[str, tuple[str, dict[str, Any]]] | None = None,
        inner_holdout_fractions: tuple[float, ...] = (1 / 3, 1 / 2),
        tolerance: float = 0.05,
        freq: str = "W",
        seed: int = 42,
        n_jobs: int | None = None,
    ) -> None:
        self.n_jobs = n_jobs
        self.candidates = candidates
        self.inner_holdout_fractions = inner_holdout_fractions
        self.tolerance = tolerance
        self.freq = freq
        self.seed = seed

    def fit(self, transactions: pd.DataFrame, calibration_end: str | pd.Timestamp, columns: TransactionColumns | None = None) -> SelectedTransactionModel:
        """Select on inner backtests, then refit the chosen candidate on the calibration period (later rows are ignored).

        Returns:
            self

        Raises:
            InputError: see :func:`select_transaction_model`.
        """
        cols = columns or TransactionColumns()
        cal_end = pd.Timestamp(calibration_end).normalize()
        tx = transactions[pd.to_datetime(transactions[cols.date]).dt.normalize() <= cal_end]
        self.selection_ = select_transaction_model(
            tx, cal_end, candidates=self.candidates, inner_holdout_fractions=self.inner_holdout_fractions,
            tolerance=self.tolerance, freq=self.freq, seed=self.seed, columns=cols, n_jobs=self.n_jobs,
        )
        self.chosen_ = self.selection_["chosen"]
        kind, params = (self.candidates or DEFAULT_CANDIDATES)[self.chosen_]
        self.model_ = _fit_candidate(kind, params, tx, cal_end, self.freq, self.seed, cols)
        self.summary_ = self.model_.summary_
        self.calibration_end_ = cal_end
        return self

    def _check(self) -> None:
        if not hasattr(self, "model_"):
            raise NotFittedError(self)

    def predict(self, t: float) -> pd.Series:
        """Expected repeat purchases of every calibration customer in the next ``t`` time units (Series by customer_id)."""
        self._check()
        return self.model_.predict(t)

    def conditional_expected_purchases(self, t: Any, frequency: Any, recency: Any, T: Any) -> np.ndarray:
        """CLV protocol: expected purchases in t for the calibration customers (the summary arrays must be theirs)."""
        self._check()
        if np.shape(np.asarray(frequency)) != (len(self.summary_),):
            raise InputError("the selected model scores only the customers it was fit on", hint="pass the model's own summary_")
        return self.predict(float(t)).to_numpy()

    def save(self, path: str | Path) -> Path:
        """Pickle the fitted model to ``path``."""
        self._check()
        return save_estimator(self, path)

    @classmethod
    def load(cls, path: str | Path) -> SelectedTransactionModel:
        """Load a model saved with :meth:`save`."""
        return load_estimator(cls, path)
