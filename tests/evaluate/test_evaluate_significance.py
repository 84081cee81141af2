"""Paired comparisons: per-user metrics, the paired t-test's interval and p-value, and their refusals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from persona.errors import InputError
from persona.evaluate import (
    RANKING_METRICS,
    paired_difference,
    per_user_ranking_metrics,
    ranking_metrics,
    versus,
)

TRUTH = pd.DataFrame({"user_id": ["a", "a", "a", "b", "c"], "item_id": [1, 2, 3, 4, 5]})
RECS = pd.DataFrame({
    "user_id": ["a", "a", "a", "a", "b", "b", "b", "d"],
    "item_id": [8, 2, 9, 1, 6, 4, 7, 1],
    "score": [0.1, 0.7, 0.8, 0.9, 0.3, 0.5, 0.6, 1.0],
})


def test_per_user_rows_average_to_the_reported_metrics():
    rows = per_user_ranking_metrics(TRUTH, RECS, 3)
    assert list(rows.index) == ["a", "b"]  # users in both frames only
    assert list(rows.columns) == [f"{m}@3" for m in RANKING_METRICS]
    assert rows.loc["a", "recall@3"] == pytest.approx(2 / 3) and rows.loc["b", "recall@3"] == pytest.approx(1.0)
    assert rows.loc["b", "mrr@3"] == pytest.approx(0.5)
    means = ranking_metrics(TRUTH, RECS, 3)
    for col in rows.columns:
        assert rows[col].mean() == pytest.approx(means[col])


def test_a_user_without_a_hit_scores_zero():
    recs = RECS.assign(item_id=RECS["item_id"].where(RECS["user_id"] != "b", 99))
    rows = per_user_ranking_metrics(TRUTH, recs, 3, metrics=["ndcg", "hit_rate"])
    assert rows.loc["b"].tolist() == [0.0, 0.0] and rows.loc["a", "hit_rate@3"] == 1.0


def test_paired_difference_matches_scipys_paired_t_test():
    rng = np.random.default_rng(0)
    users = [f"u{i}" for i in range(200)]
    a = pd.Series(rng.random(200), index=users)
    b = pd.Series(a.to_numpy() - 0.05 + rng.normal(0, 0.2, 200), index=users)
    d = paired_difference(a, b)
    ref = stats.ttest_rel(a, b)
    assert d.users == 200 and d.diff == pytest.approx(float((a - b).mean()))
    assert d.p == pytest.approx(ref.pvalue) and d.diff / d.se == pytest.approx(ref.statistic)
    lo, hi = ref.confidence_interval(0.95)
    assert (d.low, d.high) == (pytest.approx(lo), pytest.approx(hi))
    assert d.significant and d.to_dict()["significant"] is True


def test_paired_difference_pairs_by_user_not_by_position():
    a = pd.Series([1.0, 0.0, 0.5], index=["x", "y", "z"])
    b = pd.Series([0.5, 0.0, 1.0, 7.0], index=["z", "y", "x", "only-b"])
    d = paired_difference(a, b)
    assert d.users == 3 and d.diff == 0.0 and d.se == 0.0 and d.p == 1.0 and not d.significant


def test_noise_is_not_called_a_lead():
    rng = np.random.default_rng(1)
    users = range(300)
    a = pd.Series(rng.random(300), index=users)
    b = pd.Series(rng.random(300), index=users)
    d = paired_difference(a, b)
    assert d.low < 0 < d.high and not d.significant and d.p > 0.05


def test_versus_compares_the_reference_with_every_other_model():
    good = per_user_ranking_metrics(TRUTH, RECS, 3)
    worse = per_user_ranking_metrics(TRUTH, RECS.assign(score=-RECS["score"]), 3)
    out = versus({"good": good, "worse": worse, "same": good}, "good", ["ndcg@3", "recall@3"])
    assert set(out) == {"worse", "same"} and set(out["worse"]) == {"ndcg@3", "recall@3"}
    assert out["worse"]["ndcg@3"].diff > 0 and out["same"]["recall@3"].diff == 0.0


def test_refusals_say_what_is_wrong():
    rows = per_user_ranking_metrics(TRUTH, RECS, 3)
    with pytest.raises(InputError, match="at least 2 users"):
        paired_difference(pd.Series([1.0], index=["a"]), pd.Series([0.0], index=["a"]))
    with pytest.raises(InputError, match="confidence"):
        paired_difference(rows["ndcg@3"], rows["ndcg@3"], confidence=1.5)
    with pytest.raises(InputError, match="no per-user metrics for 'missing'"):
        versus({"a": rows}, "missing", ["ndcg@3"])
    with pytest.raises(InputError, match="not among"):
        versus({"a": rows, "b": rows}, "a", ["ndcg@10"])
    with pytest.raises(InputError, match="unknown ranking metric"):
        per_user_ranking_metrics(TRUTH, RECS, 3, metrics=["auc"])
