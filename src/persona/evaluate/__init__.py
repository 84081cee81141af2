"""Offline evaluation shared by every model family: splitters, ranking and rating metrics, beyond-accuracy."""

from persona.evaluate.beyond import (
    average_popularity,
    catalog_coverage,
    gini_index,
    intra_list_diversity,
    novelty,
)
from persona.evaluate.overlap import ListDifference, list_difference
from persona.evaluate.ranking import (
    RANKING_METRICS,
    hit_rate_at_k,
    map_at_k,
    mrr_at_k,
    ndcg_at_k,
    per_user_ranking_metrics,
    precision_at_k,
    ranking_metrics,
    recall_at_k,
    top_k,
)
from persona.evaluate.rating import mae, rmse
from persona.evaluate.significance import PairedDifference, paired_difference, versus
from persona.evaluate.splitters import (
    holdout_users_items,
    random_split,
    stratified_split,
    temporal_global_split,
    temporal_user_split,
)

__all__ = [
    "RANKING_METRICS",
    "ListDifference",
    "PairedDifference",
    "average_popularity",
    "catalog_coverage",
    "gini_index",
    "hit_rate_at_k",
    "holdout_users_items",
    "intra_list_diversity",
    "list_difference",
    "mae",
    "map_at_k",
    "mrr_at_k",
    "ndcg_at_k",
    "novelty",
    "paired_difference",
    "per_user_ranking_metrics",
    "precision_at_k",
    "random_split",
    "ranking_metrics",
    "recall_at_k",
    "rmse",
    "stratified_split",
    "temporal_global_split",
    "temporal_user_split",
    "top_k",
    "versus",
]
