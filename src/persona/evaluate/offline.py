"""Offline comparison of recommenders on one train/test split: fit, recommend, score, time.

Any object with ``fit(interactions) -> self`` and ``recommend(user_ids, k, exclude_seen=True)``
returning ``DataFrame[user_id, item_id, score, …]`` can be evaluated, so Persona's models and thin
wrappers around other libraries are measured by the same code on the same split.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd

from persona.evaluate.beyond import (
    average_popularity,
    catalog_coverage,
    gini_index,
    intra_list_diversity,
    novelty,
)
from persona.evaluate.ranking import RANKING_METRICS, mean_metrics, per_user_ranking_metrics
from persona.evaluate.rating import mae, rmse

log = logging.getLogger(__name__)


class _Recommender(Protocol):
    def fit(self, interactions: Any) -> Any: ...

    def recommend(self, user_ids: Any, k: int = 10, *, exclude_seen: bool = True) -> pd.DataFrame: ...


@dataclass
class ModelReport:
    """The outcome of evaluating one model: metrics, timings and (optionally) its recommendations."""

    name: str
    metrics: dict[str, float] = field(default_factory=dict)
    fit_seconds: float = float("nan")
    recommend_seconds: float = float("nan")
    error: str | None = None
    recs: pd.DataFrame | None = None
    per_user: pd.DataFrame | None = None
    #: held-out customers the model was asked about but returned no list for (scored as misses)
    unserved: int = 0

    def row(self) -> dict[str, Any]:
        """A flat dict for a comparison table."""
        out: dict[str, Any] = {"model": self.name, **self.metrics,
                               "fit_s": self.fit_seconds, "recommend_s": self.recommend_seconds}
        if self.unserved:
            out["unserved"] = self.unserved
        if self.error:
            out["error"] = self.error
        return out


def train_frame(interactions: Any) -> pd.DataFrame:
    """The distinct (user_id, item_id) pairs of an ``Interactions`` (for popularity-based metrics)."""
    m = interactions.matrix.tocoo()
    return pd.DataFrame({"user_id": interactions.user_ids[m.row], "item_id": interactions.item_ids[m.col]})


def evaluate_recommender(
    model: _Recommender,
    train: Any,
    test: pd.DataFrame,
    *,
    k: int = 10,
    name: str | None = None,
    users: Any = None,
    fit: bool = True,
    beyond: bool = True,
    keep_recs: bool = False,
    per_user: bool = False,
    user: str = "user_id",
    item: str = "item_id",
    exclude_seen: bool = True,
    rating: str = "rating",
) -> ModelReport:
    """Fit ``model`` on ``train``, recommend top-``k`` unseen items for every user, and score against ``test``.

    Args:
        model: a recommender (Persona's or a wrapper with the same two methods).
        train: the training :class:`~persona.data.Interactions`.
        test: held-out interactions with ``user`` and ``item`` columns (every row relevant).
        k: list length.
        name: label in the report (default: the class name).
        users: users to recommend for (default: every training user, as the benchmark protocol does).
        fit: fit first (False: the model is already fitted on ``train``).
        beyond: also compute coverage, novelty, popularity bias, Gini and intra-list diversity.
        keep_recs: keep the recommendations in the report.
        per_user: keep each user's ranking metrics in the report (for paired comparisons, see
            :func:`~persona.evaluate.versus`).
        user: user column of ``test``.
        item: item column of ``test``.
        exclude_seen: recommend only items the user has not interacted with in ``train`` (False: seen items
            compete too, for a test that keeps repeats, see ``split_interactions(..., repeats=True)``).
        rating: column of ``test`` with held-out ratings: a model that predicts ratings (``predict_ratings``) is
            also scored by RMSE and MAE over the rows that have one.

    Returns:
        A :class:`ModelReport`; a model that raises is reported with its ``error`` instead.
    """
    label = name or type(model).__name__
    rep = ModelReport(name=label)
    try:
        if fit:
            t0 = time.perf_counter()
            model.fit(train)
            rep.fit_seconds = time.perf_counter() - t0
        ids = train.user_ids if users is None else users
        t0 = time.perf_counter()
        recs = model.recommend(ids, k=k, exclude_seen=exclude_seen, **_quiet_kwargs(model))
        rep.recommend_seconds = time.perf_counter() - t0
    except Exception as exc:  # one broken model must not hide the others' results
        log.warning("model=%s failed: %s", label, exc)
        rep.error = f"{type(exc).__name__}: {exc}"
        return rep
    truth = test.rename(columns={user: "user_id", item: "item_id"})[["user_id", "item_id"]]
    recs = recs[["user_id", "item_id", "score"]]
    truth = _align(truth, recs)
    rows = per_user_ranking_metrics(truth, recs, k, metrics=RANKING_METRICS)
    rows, rep.unserved = _with_unserved(rows, truth, recs, ids)
    if rep.unserved:
        log.warning("model=%s returned no list for %d held-out customers; they count as misses", label, rep.unserved)
    rep.metrics = mean_metrics(rows)
    if rating in test.columns and hasattr(model, "predict_ratings"):
        rep.metrics.update(_rating_errors(model, test.rename(columns={user: "user_id", item: "item_id", rating: "rating"})))
    if beyond:
        tf = train_frame(train)
        rep.metrics["coverage"] = catalog_coverage(recs, train.n_items)
        rep.metrics["novelty"] = novelty(recs, tf)
        rep.metrics["avg_popularity"] = average_popularity(recs, tf)
        rep.metrics["gini"] = gini_index(recs, train.n_items)
        rep.metrics["diversity"] = intra_list_diversity(recs, train.matrix.T.tocsr(), train.item_ids)
    if keep_recs:
        rep.recs = recs
    if per_user:
        rep.per_user = rows
    return rep


def _rating_errors(model: Any, test: pd.DataFrame) -> dict[str, float]:
    """RMSE and MAE of ``model``'s predicted ratings over the test rows with a rating (none: no figures)."""
    rated = test[test["rating"].notna()]
    if rated.empty:
        return {}
    pred = rated[["user_id", "item_id"]].assign(
        prediction=model.predict_ratings(rated["user_id"].tolist(), rated["item_id"].tolist()))
    truth = rated[["user_id", "item_id", "rating"]]
    return {"rmse": rmse(truth, pred), "mae": mae(truth, pred)}


def _with_unserved(rows: pd.DataFrame, truth: pd.DataFrame, recs: pd.DataFrame, asked: Any) -> tuple[pd.DataFrame, int]:
    """Per-user metric rows plus a row of zeros for every held-out customer in ``asked`` who got no list.

    Microsoft Recommenders' metrics average over the users present in both the truth and the lists, so a model
    that returns nothing for its hard customers (NaN scores, say) would score better for it. Here those customers
    count as misses; for a model that serves every customer it was asked about, the two are the same.
    """
    asked_ids = {str(u) for u in asked}
    served = {str(u) for u in recs["user_id"].unique()}
    missing = [u for u in pd.unique(truth["user_id"]) if str(u) in asked_ids and str(u) not in served]
    if not missing:
        return rows, 0
    zeros = pd.DataFrame(0.0, index=pd.Index(missing, name=rows.index.name), columns=rows.columns)
    return pd.concat([rows, zeros]), len(missing)


def _quiet_kwargs(model: Any) -> dict[str, Any]:
    """``reasons=False`` for recommenders that can phrase reasons (not needed to score a list)."""
    import inspect

    try:
        return {"reasons": False} if "reasons" in inspect.signature(model.recommend).parameters else {}
    except (TypeError, ValueError):
        return {}


def _align(truth: pd.DataFrame, recs: pd.DataFrame) -> pd.DataFrame:
    """Cast the truth's ids to the recommendations' id type when they differ (e.g. int vs str)."""
    for col in ("user_id", "item_id"):
        if len(recs) and len(truth) and type(recs[col].iloc[0]) is not type(truth[col].iloc[0]):
            try:
                truth = truth.assign(**{col: truth[col].astype(type(recs[col].iloc[0]))})
            except (TypeError, ValueError):
                truth = truth.assign(**{col: truth[col].astype(str)})
                recs[col] = recs[col].astype(str)
    return truth


def compare_recommenders(
    models: Mapping[str, _Recommender | Callable[[], _Recommender]],
    train: Any,
    test: pd.DataFrame,
    *,
    k: int = 10,
    beyond: bool = True,
    keep_recs: bool = False,
    on_result: Callable[[ModelReport], None] | None = None,
) -> list[ModelReport]:
    """Evaluate several models on the same split, in order.

    Args:
        models: name → model (or a zero-argument factory, called just before fitting).
        train: training Interactions.
        test: held-out interactions (``user_id``, ``item_id``).
        k: list length.
        beyond: compute beyond-accuracy metrics too.
        keep_recs: keep each model's recommendations.
        on_result: called after each model (e.g. to print progress).

    Returns:
        One :class:`ModelReport` per model.
    """
    out = []
    for label, m in models.items():
        model = m() if callable(m) and not hasattr(m, "fit") else m
        rep = evaluate_recommender(model, train, test, k=k, name=label, beyond=beyond, keep_recs=keep_recs)
        out.append(rep)
        if on_result is not None:
            on_result(rep)
    return out


def comparison_frame(reports: list[ModelReport]) -> pd.DataFrame:
    """The reports as one table, one row per model."""
    return pd.DataFrame([r.row() for r in reports])


def best_model(reports: list[ModelReport], metric: str = "ndcg@10") -> ModelReport | None:
    """The report with the highest ``metric`` among those that did not fail."""
    ok = [r for r in reports if r.error is None and np.isfinite(r.metrics.get(metric, np.nan))]
    return max(ok, key=lambda r: r.metrics[metric]) if ok else None
