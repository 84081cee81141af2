"""The hybrid BG/NBD + boosted correction beats the paper on CDNOW's holdout, trained on calibration data only."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from shared_data import shared_data

from persona.errors import InputError, NotFittedError
from persona.predict.clv_hybrid import HybridTransactionModel
from persona.predict.clv_summary import rfm_summary


@pytest.mark.slow
def test_hybrid_beats_bgnbd_rmse_and_total_on_cdnow_holdout() -> None:
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
