"""A/B tests of recommenders: route each customer to one recommender by deterministic assignment.

The API (once it exists) calls :meth:`RecommenderABTest.recommend` per request and
:func:`persona.experiments.assignment.log_exposure` with :meth:`exposures`; outcomes are then analysed
with :func:`persona.experiments.analysis.analyze_experiment` like any other experiment.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from persona.errors import InputError
from persona.experiments.assignment import HOLDOUT_VARIANT, ExperimentSpec, assign
from persona.experiments.interleaving import Interleaving, team_draft


class RecommenderABTest:
    """Serve each customer the recommender of its variant.

    Args:
        experiment: the split (variant names must match ``recommenders``' keys; a holdout gets ``fallback``).
        recommenders: variant name -> fitted recommender (``recommend(user_ids, k, **kw) -> DataFrame``).
        fallback: recommender for the holdout arm (None: holdout customers get no recommendations).
    """

    def __init__(self, experiment: ExperimentSpec, recommenders: Mapping[str, Any], fallback: Any = None) -> None:
        missing = sorted(set(experiment.variants) - set(recommenders))
        if missing:
            raise InputError(f"no recommender for variant(s) {missing}", hint=f"given: {sorted(recommenders)}")
        self.experiment = experiment
        self.recommenders = dict(recommenders)
        self.fallback = fallback

    def variants(self, customer_ids: Iterable[Any]) -> pd.Series:
        """The variant of each customer (deterministic)."""
        return assign(self.experiment, customer_ids)

    def recommend(self, customer_ids: Iterable[Any], k: int = 10, **kwargs: Any) -> pd.DataFrame:
        """Recommendations from each customer's assigned recommender, with a ``variant`` column."""
        v = self.variants(customer_ids)
        frames = []
        for variant, ids in v.groupby(v).groups.items():
            rec = self.recommenders.get(variant) if variant != HOLDOUT_VARIANT else self.fallback
            if rec is None:
                continue
            out = rec.recommend(list(ids), k=k, **kwargs).copy()
            out["variant"] = variant
            frames.append(out)
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
            columns=["user_id", "item_id", "score", "rank", "reason", "variant"])

    def exposures(self, customer_ids: Iterable[Any]) -> pd.Series:
        """Customer -> variant, ready for ``log_exposure``."""
        return self.variants(customer_ids)


def interleave_recommenders(rec_a: Any, rec_b: Any, customer_ids: Iterable[Any], k: int = 10, *,
                            experiment: str = "interleave", **kwargs: Any) -> dict[str, Interleaving]:
    """Team-draft interleaved lists of two recommenders for each customer (reproducible per customer)."""
    ids = [str(c) for c in customer_ids]
    ra = rec_a.recommend(ids, k=k, **kwargs)
    rb = rec_b.recommend(ids, k=k, **kwargs)
    la = ra.sort_values(["user_id", "rank"]).groupby("user_id")["item_id"].apply(list)
    lb = rb.sort_values(["user_id", "rank"]).groupby("user_id")["item_id"].apply(list)
    return {c: team_draft(la.get(c, []), lb.get(c, []), k, seed=f"{experiment}:{c}") for c in ids}
