"""Group comparisons: planted gaps are found, equal groups are not flagged, small groups are not judged."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from persona.fairness import auc_by_group, compare_means, compare_rates
from persona.fairness.measures import _holm


def _groups(n_a: int, n_b: int, n_c: int = 0) -> pd.Series:
    labels = ["a"] * n_a + ["b"] * n_b + ["c"] * n_c
    return pd.Series(labels, index=[f"u{i}" for i in range(len(labels))])


def test_a_planted_gap_in_means_is_found_and_matches_welch() -> None:
    rng = np.random.default_rng(0)
    g = _groups(200, 200)
    v = pd.Series(np.r_[rng.normal(0.5, 0.2, 200), rng.normal(0.4, 0.2, 200)], index=g.index)
    c = compare_means(v, g, attribute="gender", measure="ndcg@10")
    row = c.table.set_index("group").loc["b"]
    assert row["gap"] == pytest.approx(v[200:].mean() - v[:200].mean())
    welch = stats.ttest_ind(v[200:], v[:200], equal_var=False).pvalue
    assert row["p_value"] == pytest.approx(welch)
    assert row["p_holm"] == pytest.approx(min(1.0, 2 * welch))  # two groups judged
    assert c.summary["significant"] == ["a", "b"] and c.summary["lowest"] == "b"
    assert "b is 0.1" in c.sentence and "significant difference" in c.sentence


def test_equal_groups_are_not_flagged_and_small_or_unknown_groups_are_not_judged() -> None:
    rng = np.random.default_rng(1)
    g = pd.concat([_groups(300, 300, 10), pd.Series(["unknown"] * 50, index=[f"x{i}" for i in range(50)])])
    v = pd.Series(rng.normal(0.5, 0.2, len(g)), index=g.index)
    c = compare_means(v, g, attribute="age", measure="recall@10", min_group=30)
    t = c.table.set_index("group")
    assert not c.summary["significant"] and "No group differs significantly" in c.sentence
    assert not t.loc["c", "judged"] and np.isnan(t.loc["c", "value"]) and t.loc["c", "n"] == 10
    assert not t.loc["unknown", "judged"]
    assert c.summary["groups_judged"] == 2


def test_rates_give_the_disparate_impact_ratio_and_the_four_fifths_verdict() -> None:
    g = _groups(100, 100)
    sel = pd.Series([True] * 50 + [False] * 50 + [True] * 20 + [False] * 80, index=g.index)
    c = compare_rates(sel, g, attribute="country", measure="offered a discount")
    t = c.table.set_index("group")
    assert t.loc["a", "value"] == 0.5 and t.loc["b", "value"] == 0.2
    assert c.summary["impact_ratio"] == pytest.approx(0.4) and c.summary["four_fifths"] is False
    chi = stats.chi2_contingency(np.array([[50, 50], [20, 80]]), correction=False).pvalue
    assert t.loc["a", "p_value"] == pytest.approx(chi)
    assert "fails the four-fifths rule" in c.sentence and "30.0 points" in c.sentence
    # a ratio under 0.8 that chance explains is said to be so
    g2 = _groups(40, 40)
    sel2 = pd.Series([True] * 6 + [False] * 34 + [True] * 4 + [False] * 36, index=g2.index)
    c2 = compare_rates(sel2, g2)
    assert c2.summary["impact_ratio"] == pytest.approx(4 / 6, abs=1e-4) and "within chance" in c2.sentence
    # small counts use Fisher's exact test
    assert c2.table.set_index("group").loc["a", "p_value"] == pytest.approx(stats.fisher_exact([[6, 34], [4, 36]]).pvalue)


def test_holm_adjustment() -> None:
    p = np.array([0.01, 0.04, np.nan, 0.03])
    assert np.allclose(_holm(p)[[0, 1, 3]], [0.03, 0.06, 0.06]) and np.isnan(_holm(p)[2])


def test_auc_by_group_matches_sklearn_and_needs_both_classes() -> None:
    rng = np.random.default_rng(2)
    g = _groups(150, 150, 40)
    y = pd.Series(rng.integers(0, 2, len(g)), index=g.index)
    p = pd.Series(np.where(g == "a", y * 0.6 + rng.random(len(g)) * 0.4, rng.random(len(g))), index=g.index)
    y.iloc[300:] = 0  # group c: one class only
    out = auc_by_group(y, p, g, attribute="gender")
    rows = {r["group"]: r for r in out["groups"]}
    assert rows["a"]["auc"] == pytest.approx(roc_auc_score(y[g == "a"], p[g == "a"]), abs=1e-4)
    assert rows["a"]["auc"] > 0.9 and rows["b"]["auc"] < 0.7 and rows["c"]["auc"] is None
    assert out["summary"]["auc_range"][0] == rows["b"]["auc"]
