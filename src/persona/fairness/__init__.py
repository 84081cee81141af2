"""Fairness: whether recommendations, predictions and campaigns treat customer groups alike (see :mod:`.audit`)."""

from persona.fairness.audit import (
    FairnessReport,
    campaign_fairness,
    campaign_selection,
    exposure_fairness,
    popularity_percentile,
    prediction_fairness,
    recommendation_fairness,
)
from persona.fairness.groups import (
    ATTRIBUTES,
    DEFAULT_ATTRIBUTES,
    age_band,
    customer_groups,
    present_attributes,
)
from persona.fairness.measures import GroupComparison, auc_by_group, compare_means, compare_rates

__all__ = [
    "ATTRIBUTES",
    "DEFAULT_ATTRIBUTES",
    "FairnessReport",
    "GroupComparison",
    "age_band",
    "auc_by_group",
    "campaign_fairness",
    "campaign_selection",
    "compare_means",
    "compare_rates",
    "customer_groups",
    "exposure_fairness",
    "popularity_percentile",
    "prediction_fairness",
    "present_attributes",
    "recommendation_fairness",
]
