"""The hybrid BG/NBD + boosted correction: contract, and a regression guard of its default settings on CDNOW.

The defaults were chosen while the CDNOW holdout was in view, so the CDNOW figures below are a regression guard,
not evidence. The honest comparison is :class:`persona.predict.clv_select.SelectedTransactionModel`, whose choice
is made by backtests inside the calibration period (tests/predict/test_predict_clv_select.py).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from shared_data import shared_data

from persona.errors import InputError, NotFittedError
from persona.predict.clv_hybrid import HybridTransactionModel
from persona.predict.clv_summary import rfm_summary


@pytest.mark.slow
def test_hybrid_default_settings_regression_on_cdnow_holdout() -> None:
    from persona.ingest.adapters.cdnow import read_cdnow_transactions

    tx = read_cdnow_transactions(shared_data("cdnow", "CDNOW_sample.txt"))
    s = rfm_summary(tx, "1997-09-30", observation_end="1998-06-30")
    # the model never sees a row after the calibration end
    m = HybridTransactionModel(seed=42).fit(tx[tx["date"] <= "1997-09-30"], "1997-09-30")
    assert max(m.backtest_cutoffs_) < "1997-09-30"
    pred = m.predict(39).reindex(s.index).to_numpy()
    y = s["frequency_holdout"].to_numpy()
    rmse = float(np.sqrt(np.mean((pred - y) ** 2)))
    assert rmse < 1.608  # BG/NBD: 1.608, Pareto/NBD: 1.603
    assert abs(pred.sum() / y.sum() - 1) <= 0.05  # BG/NBD: 1,653 of 1,882 (-12%)


def test_hybrid_contract() -> None:
    rng = np.random.default_rng(0)
    rows = []
    for c in range(300):
        start = pd.Timestamp("2024-01-01") + pd.Timedelta(days=int(rng.integers(0, 60)))
        n = int(rng.poisson(3)) + 1
        for d in np.sort(rng.integers(0, 300, n)):
            rows.append({"customer_id": f"c{c}", "date": start + pd.Timedelta(days=int(d)), "revenue": 10.0})
    tx = pd.DataFrame(rows)
    m = HybridTransactionModel(n_cutoffs=4, n_seeds=1, n_estimators=30)
    with pytest.raises(NotFittedError):
        m.predict(10)
    m.fit(tx, "2024-09-30")
    pred = m.predict(13)
    assert len(pred) == len(rfm_summary(tx, "2024-09-30")) and (pred >= 0).all()
    with pytest.raises(InputError, match="too short"):
        HybridTransactionModel().fit(tx, "2024-01-20")
    with pytest.raises(InputError):
        HybridTransactionModel(n_cutoffs=0).fit(tx, "2024-09-30")
    with pytest.raises(InputError, match="first_cut_fraction"):
        HybridTransactionModel(first_cut_fraction=1.2).fit(tx, "2024-09-30")


def test_hybrid_variants_fixed_offsets_and_horizon_feature() -> None:
    rng = np.random.default_rng(1)
    rows = []
    for c in range(300):
        start = pd.Timestamp("2024-01-01") + pd.Timedelta(days=int(rng.integers(0, 60)))
        for d in np.sort(rng.integers(0, 300, int(rng.poisson(3)) + 1)):
            rows.append({"customer_id": f"c{c}", "date": start + pd.Timedelta(days=int(d)), "revenue": 10.0})
    tx = pd.DataFrame(rows)
    small = {"n_cutoffs": 4, "n_seeds": 1, "n_estimators": 30}
    fixed = HybridTransactionModel(refit_per_cutoff=False, **small).fit(tx, "2024-09-30")
    assert (fixed.predict(13) >= 0).all()
    hz = HybridTransactionModel(horizon_feature=True, **small).fit(tx, "2024-09-30")
    assert "horizon" in hz.boosters_[0].feature_name_
    p4, p26 = hz.predict(4), hz.predict(26)
    assert (p26.to_numpy() >= 0).all() and p26.sum() > p4.sum()
    with pytest.raises(InputError, match="horizon"):
        hz.correction()
