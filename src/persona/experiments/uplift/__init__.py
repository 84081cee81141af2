"""Uplift modelling: meta-learners, Qini / uplift curves and a persuadables targeting policy."""

from persona.experiments.uplift.learners import (
    ClassTransformation,
    DRLearner,
    SLearner,
    TLearner,
    UpliftEnsemble,
    UpliftLearner,
    XLearner,
)
from persona.experiments.uplift.metrics import (
    perfect_qini_curve,
    perfect_uplift_curve,
    qini_auc_score,
    qini_curve,
    uplift_at_k,
    uplift_auc_score,
    uplift_curve,
    uplift_report,
)
from persona.experiments.uplift.policy import compare_policies, select_persuadable

__all__ = [
    "ClassTransformation", "DRLearner", "SLearner", "TLearner", "UpliftEnsemble", "UpliftLearner", "XLearner",
    "perfect_qini_curve", "perfect_uplift_curve", "qini_auc_score", "qini_curve", "uplift_at_k",
    "uplift_auc_score", "uplift_curve", "uplift_report", "compare_policies", "select_persuadable",
]
