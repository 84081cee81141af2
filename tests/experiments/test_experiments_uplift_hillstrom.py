"""Uplift on Hillstrom (any e-mail vs none, outcome visit): Persona vs scikit-uplift on the same 70/30 split."""

from __future__ import annotations

import warnings

import pytest
from shared_data import shared_data
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from persona.experiments.hillstrom import hillstrom_uplift_inputs, read_hillstrom
from persona.experiments.uplift import ClassTransformation, TLearner, XLearner, qini_auc_score


def _logit():  # noqa: ANN202
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, C=0.1))


def test_persona_best_at_least_scikit_uplift_best_on_hillstrom_visit() -> None:
    sk = pytest.importorskip("sklift.models")
    df = read_hillstrom(shared_data("hillstrom", "hillstrom.csv"))
    X, t = hillstrom_uplift_inputs(df)
    y = df["visit"].to_numpy()
    Xtr, Xte, ttr, tte, ytr, yte = train_test_split(X, t, y, test_size=0.3, random_state=42, stratify=t * 2 + y)
    ours = {
        "T": TLearner(_logit()),
        "T-ddr": TLearner(_logit(), method="ddr_control"),
        "X": XLearner(_logit(), make_pipeline(StandardScaler(), Ridge(alpha=10.0))),
        "CT-balanced": ClassTransformation(_logit()),
    }
    theirs = {
        "T": sk.TwoModels(_logit(), _logit()),
        "T-ddr": sk.TwoModels(_logit(), _logit(), method="ddr_control"),
        "CT": sk.ClassTransformation(_logit()),
    }
    q_ours = {k: qini_auc_score(yte, m.fit(Xtr, ttr, ytr).predict_uplift(Xte), tte) for k, m in ours.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        q_theirs = {k: qini_auc_score(yte, m.fit(Xtr, ytr, ttr).predict(Xte), tte) for k, m in theirs.items()}
    assert max(q_ours.values()) >= max(q_theirs.values())
    # the same algorithm gives the same number in both libraries
    assert q_ours["T"] == pytest.approx(q_theirs["T"], rel=1e-6)
    assert q_ours["T-ddr"] == pytest.approx(q_theirs["T-ddr"], rel=1e-6)
    # balancing the arms (2/3 are treated) fixes class transformation
    assert q_ours["CT-balanced"] > q_theirs["CT"]
    assert max(q_ours.values()) > 0.04
