"""The fairness audit of a workspace: groups from its customers, then whatever it holds to audit.

Used by the ``fairness`` stage of ``persona run`` (which passes what its earlier stages built: the held-out
comparison, the outcome models with their backtests) and by ``persona fairness`` (which audits what the store
keeps: the active recommender, the stored scores and the campaigns' latest runs).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from persona.errors import InputError
from persona.fairness.audit import (
    FairnessReport,
    campaign_fairness,
    campaign_selection,
    exposure_fairness,
    popularity_percentile,
    prediction_fairness,
    recommendation_fairness,
)
from persona.fairness.groups import customer_groups
from persona.fairness.measures import MIN_GROUP, compare_means, compare_rates

#: at most this many customers are asked for recommendations to measure exposure
MAX_EXPOSURE_USERS = 5000
#: stored scores audited when no outcome model with a backtest is given
STORED_SCORES = ("churn_probability", "purchase_propensity")


def as_of_year(store: Any) -> int | None:
    """The year of the newest event (ages are computed then), or None without events."""
    t = store.read_frame("SELECT MAX(ts) AS t FROM events")["t"].iloc[0]
    return None if t is None or pd.isna(t) else int(pd.Timestamp(t).year)


def workspace_groups(store: Any, attributes: Sequence[str] | None = None) -> pd.DataFrame:
    """Group labels of the workspace's customers (index: customer id as text).

    Args:
        attributes: which to use (default: those of ``DEFAULT_ATTRIBUTES`` the customers carry).

    Raises:
        InputError: no attribute to group by, or a named one the customers do not carry.
    """
    from persona.data.interactions import read_customers

    groups = customer_groups(read_customers(store), attributes, as_of_year=as_of_year(store))
    return groups.set_axis(groups.index.astype(str))


def data_groups(data: Any, attributes: Sequence[str] | None = None) -> pd.DataFrame:
    """Group labels of the users of an :class:`~persona.data.Interactions` (index: user id as text), ages
    computed in the year of its newest event (MovieLens ages are those of 1998, not of today).

    Raises:
        InputError: the users carry no attribute to group by, or not a named one.
    """
    year = None
    if data.has_time:
        t = pd.to_datetime(data.log["time"].max(), unit="s") if pd.api.types.is_numeric_dtype(data.log["time"]) else pd.Timestamp(data.log["time"].max())
        year = int(t.year)
    groups = customer_groups(data.users.reset_index(), attributes, id_column="user_id", as_of_year=year)
    return groups.set_axis(groups.index.astype(str))


def _exposure(report: FairnessReport, model: Any, data: Any, groups: pd.DataFrame, label: str, seed: int, min_group: int) -> None:
    if model is None or data is None or data.nnz == 0:
        return
    ids = pd.Index(data.user_ids)
    users = ids[ids.astype(str).isin(groups.index)]
    if len(users) > MAX_EXPOSURE_USERS:
        users = users[np.sort(np.random.default_rng(seed).choice(len(users), MAX_EXPOSURE_USERS, replace=False))]
    if not len(users):
        return
    recs = model.recommend(users.tolist(), k=10)
    recs = recs.assign(user_id=recs["user_id"].astype(str))
    counts = pd.Series(np.asarray((data.matrix > 0).sum(axis=0)).ravel(), index=data.item_ids)
    for c in exposure_fairness(recs, popularity_percentile(counts), groups, min_group=min_group):
        report.add("recommendations", c, model=label)


def _stored_scores(report: FairnessReport, store: Any, groups: pd.DataFrame, top_share: float, min_group: int) -> None:
    for name in STORED_SCORES:
        rows = store.read_frame("SELECT customer_id, value FROM predictions WHERE name = :n", {"n": name}).dropna()
        if len(rows) < 2:
            continue
        score = pd.Series(rows["value"].to_numpy(dtype=float), index=rows["customer_id"].astype(str))
        top = score >= float(np.quantile(score, 1 - top_share))
        for attr in groups.columns:
            report.add("predictions", compare_means(score, groups[attr], attribute=attr, measure="mean score", min_group=min_group), model=name)
            report.add("predictions", compare_rates(top, groups[attr], attribute=attr, measure=f"in the top {top_share:.0%} of scores",
                                                    min_group=min_group), model=name)


def audit_workspace(
    store: Any,
    attributes: Sequence[str] | None = None,
    *,
    campaigns: Sequence[str] | None = None,
    recommender: Any = None,
    recommender_label: str = "recommender",
    comparison: Any = None,
    outcome_models: Mapping[str, Any] | None = None,
    top_share: float = 0.1,
    min_group: int = MIN_GROUP,
    seed: int = 42,
) -> FairnessReport:
    """Audit what the workspace holds, by customer group.

    Args:
        attributes: customer attributes to group by (default: those of :data:`DEFAULT_ATTRIBUTES` present).
        campaigns: campaigns whose latest run is audited (default: every campaign with a run).
        recommender: a fitted recommender whose lists are audited for popularity exposure.
        comparison: a :class:`~persona.evaluate.selection.Comparison` whose best model's per-customer
            held-out accuracy is audited.
        outcome_models: fitted outcome models with ``backtest_scores_`` (their backtests are audited: true
            cases caught, calibration, AUC); without them the stored churn / propensity scores are audited
            (who gets high scores, without outcomes).
        top_share: the share of top-scored customers a campaign would target.
        min_group: groups smaller than this are listed but not judged.

    Raises:
        InputError: no attribute to group by, an unknown campaign, or a bad ``top_share`` / ``min_group``.
    """
    if not 0.0 < float(top_share) < 1.0:
        raise InputError(f"top share must lie in (0, 1), got {top_share!r}")
    if isinstance(min_group, bool) or not isinstance(min_group, int) or min_group < 2:
        raise InputError(f"min group must be an integer of at least 2, got {min_group!r}")
    groups = workspace_groups(store, attributes)
    report = FairnessReport(list(groups.columns), min_group=min_group)
    best = getattr(comparison, "best", None)
    if best is not None and best.per_user is not None and len(best.per_user):
        per_user = best.per_user.set_axis(best.per_user.index.astype(str))
        for c in recommendation_fairness(per_user, groups, min_group=min_group):
            report.add("recommendations", c, model=best.name)
    if recommender is not None:
        _exposure(report, recommender, getattr(recommender, "data_", None), groups,
                  best.name if best is not None else recommender_label, seed, min_group)
    audited = False
    for name, model in (outcome_models or {}).items():
        scores = getattr(model, "backtest_scores_", None)
        if scores is not None and len(scores):
            audited = True
            for d in prediction_fairness(scores.assign(customer_id=scores["customer_id"].astype(str)), groups,
                                         top_share=top_share, min_group=min_group):
                report.add("predictions", d, model=name)
    if not audited:
        _stored_scores(report, store, groups, top_share, min_group)
    known = store.read_frame("SELECT DISTINCT campaign FROM campaign_runs ORDER BY campaign")["campaign"].tolist()
    for name in campaigns if campaigns is not None else known:
        if name not in known:
            raise InputError(f"campaign {name!r} has no run to audit", hint=f"campaigns with runs: {', '.join(known) or 'none'}")
        sel = campaign_selection(store, name, groups.index)
        if sel is not None:
            for c in campaign_fairness(sel, groups, min_group=min_group):
                report.add("campaigns", c, campaign=name)
    return report
