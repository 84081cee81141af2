"""Experiments: deterministic assignment and holdouts, analysis with honest statistics, sequential
monitoring, power, uplift modelling and interleaving of recommenders."""

from persona.experiments.analysis import AnalysisResult, analyze, analyze_experiment, experiment_frame
from persona.experiments.assignment import (
    ExperimentSpec,
    assign,
    global_holdout_mask,
    in_global_holdout,
    load_experiment,
    log_exposure,
    read_exposures,
    save_experiment,
    srm_check,
)
from persona.experiments.interleaving import analyze_interleaving, team_draft
from persona.experiments.power import (
    mde_proportions,
    power_proportions,
    sample_size_means,
    sample_size_proportions,
)
from persona.experiments.recommenders import RecommenderABTest, interleave_recommenders
from persona.experiments.sequential import SequentialMonitor

__all__ = [
    "AnalysisResult", "ExperimentSpec", "RecommenderABTest", "SequentialMonitor", "analyze", "analyze_experiment",
    "analyze_interleaving", "assign", "experiment_frame", "global_holdout_mask", "in_global_holdout",
    "interleave_recommenders", "load_experiment", "log_exposure", "mde_proportions", "power_proportions",
    "read_exposures", "sample_size_means", "sample_size_proportions", "save_experiment", "srm_check", "team_draft",
]
