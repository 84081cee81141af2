"""Uplift: metrics equal scikit-uplift's; learners recover a known uplift; policy; estimator contract."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression

from persona.errors import InputError, NotFittedError
from persona.experiments.uplift import (
    ClassTransformation,
    DRLearner,
    SLearner,
    TLearner,
    UpliftEnsemble,
    XLearner,
    compare_policies,
    qini_auc_score,
    qini_curve,
    select_persuadable,
    uplift_at_k,
    uplift_auc_score,
    uplift_curve,
)


def _synthetic(n: int = 12_000, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
    """Persuadables (x0 > 0) respond to treatment; sleeping dogs (x1 > 1) are put off; known true uplift."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 4)), columns=["x0", "x1", "x2", "x3"])
    t = (rng.random(n) < 0.5).astype(int)
    base = 0.1 + 0.05 * (X.x2 > 0)
    true = np.where(X.x0 > 0, 0.15, 0.0) - np.where(X.x1 > 1, 0.05, 0.0)
    y = (rng.random(n) < np.clip(base + t * true, 0, 1)).astype(int)
    return X, t, y, true


def test_metrics_equal_scikit_uplift() -> None:
    sk = pytest.importorskip("sklift.metrics")
    rng = np.random.default_rng(1)
    n = 3000
    t = rng.integers(0, 2, n)
    y = (rng.random(n) < 0.3 + 0.1 * t).astype(int)
    for u in (rng.normal(size=n), np.round(rng.normal(size=n), 1)):  # with and without ties
        assert qini_auc_score(y, u, t) == pytest.approx(sk.qini_auc_score(y, u, t), rel=1e-12)
        assert qini_auc_score(y, u, t, negative_effect=False) == pytest.approx(
            sk.qini_auc_score(y, u, t, negative_effect=False), rel=1e-12)
        assert uplift_auc_score(y, u, t) == pytest.approx(sk.uplift_auc_score(y, u, t), rel=1e-12)
        for strategy in ("overall", "by_group"):
            assert uplift_at_k(y, u, t, strategy, 0.3) == pytest.approx(sk.uplift_at_k(y, u, t, strategy, 0.3))
        for mine, theirs in ((qini_curve, sk.qini_curve), (uplift_curve, sk.uplift_curve)):
            a, b = mine(y, u, t), theirs(y, u, t)
            np.testing.assert_allclose(a[0], b[0])
            np.testing.assert_allclose(a[1], b[1])
    with pytest.raises(InputError):
        qini_auc_score(y, np.zeros(n - 1), t)


@pytest.mark.parametrize("make", [
    lambda: SLearner(LogisticRegression(max_iter=500), interactions=True),
    lambda: TLearner(LogisticRegression(max_iter=500)),
    lambda: TLearner(LogisticRegression(max_iter=500), method="ddr_control"),
    lambda: ClassTransformation(LogisticRegression(max_iter=500)),
    lambda: XLearner(LogisticRegression(max_iter=500), LinearRegression()),
    lambda: DRLearner(LogisticRegression(max_iter=500), LinearRegression(), seed=1),
    lambda: UpliftEnsemble([TLearner(LogisticRegression(max_iter=500)), XLearner(LogisticRegression(max_iter=500), LinearRegression())]),
], ids=["S", "T", "T-ddr", "CT", "X", "DR", "ensemble"])
def test_learners_recover_known_uplift(make, tmp_path) -> None:  # noqa: ANN001
    X, t, y, true = _synthetic()
    Xtr, Xte = X.iloc[:8000], X.iloc[8000:]
    m = make()
    with pytest.raises(NotFittedError):
        m.predict_uplift(Xte)
    assert m.fit(Xtr, t[:8000], y[:8000]) is m
    u = m.predict_uplift(Xte)
    assert np.corrcoef(u, true[8000:])[0, 1] > 0.5  # ranks persuadables first
    assert qini_auc_score(y[8000:], u, t[8000:]) > 0.1
    m2 = type(m).load(m.save(tmp_path / "m.pkl"))
    np.testing.assert_allclose(m2.predict(Xte), u)


def test_class_transformation_balancing_matters_when_arms_are_unbalanced() -> None:
    X, _, _, true = _synthetic(n=20_000, seed=3)
    rng = np.random.default_rng(4)
    t = (rng.random(len(X)) < 0.8).astype(int)
    y = (rng.random(len(X)) < np.clip(0.1 + t * true, 0, 1)).astype(int)
    bal = ClassTransformation(LogisticRegression()).fit(X, t, y).predict_uplift(X)
    raw = ClassTransformation(LogisticRegression(), balance=False).fit(X, t, y).predict_uplift(X)
    # the balanced version estimates the uplift's level; the unbalanced one is shifted by the arm imbalance
    assert abs(bal.mean() - true.mean()) < 0.03 < abs(raw.mean() - true.mean())


def test_input_validation() -> None:
    X, t, y, _ = _synthetic(n=200)
    with pytest.raises(InputError, match="same length"):
        TLearner(LogisticRegression()).fit(X, t[:-1], y)
    with pytest.raises(InputError, match="0/1"):
        TLearner(LogisticRegression()).fit(X, t * 2, y)
    with pytest.raises(InputError, match="single value"):
        TLearner(LogisticRegression()).fit(X, np.ones_like(t), y)
    with pytest.raises(InputError, match="binary"):
        ClassTransformation(LogisticRegression()).fit(X, t, y * 2.5)


def test_policy_targets_persuadables_better_than_propensity() -> None:
    X, t, _, true = _synthetic(n=40_000, seed=9)
    # loyal buyers (x2 > 0) buy anyway: a response model ranks them first, an uplift model does not
    y = (np.random.default_rng(10).random(len(X)) < np.clip(0.1 + 0.3 * (X.x2 > 0) + t * true, 0, 1)).astype(int)
    m = TLearner(LogisticRegression(max_iter=500)).fit(X.iloc[:20_000], t[:20_000], y[:20_000])
    u = m.predict_uplift(X.iloc[20_000:])
    resp = LogisticRegression(max_iter=500).fit(X.iloc[:20_000][t[:20_000] == 1], y[:20_000][t[:20_000] == 1])
    p = resp.predict_proba(X.iloc[20_000:])[:, 1]
    rev = y[20_000:] * 30.0
    tab = compare_policies(u, y[20_000:], t[20_000:], propensity=p, revenue=rev, share=0.5, cost_per_contact=0.1).set_index("policy")
    up, ev, pr = (tab.loc[k] for k in ("uplift (persuadables)", "everyone", "propensity (likely buyers)"))
    assert up.contacted == 10_000 == pr.contacted and ev.contacted == 20_000
    assert up.incremental_conversions > pr.incremental_conversions + 2 * pr.incremental_conversions_se
    assert up.conversions_per_1000_contacts > ev.conversions_per_1000_contacts
    assert up.net_revenue == pytest.approx(up.incremental_revenue - 0.1 * 10_000)
    assert select_persuadable(np.array([0.2, -0.1, 0.05]), threshold=0.0).tolist() == [True, False, True]
