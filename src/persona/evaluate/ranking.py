"""Ranking metrics at k, defined exactly as Microsoft Recommenders' ``python_evaluation.py``.

Every metric compares ``truth`` (the held-out interactions: any row is relevant) with ``recs``
(scored recommendations). Only users present in both count, and each metric is averaged over
those users (a user without a hit contributes 0):

* precision@k = hits / k
* recall@k = hits / |test items of the user|
* nDCG@k: gain 1 / ln(1 + rank), normalised by the ideal DCG over min(|test items|, k)
* MAP@k: sum over hits of (hits so far / rank), divided by |test items| (not min(|test|, k))
* MRR@k: 1 / rank of the first hit; hit rate@k: share of users with at least one hit.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from persona.errors import InputError, SchemaError

RANKING_METRICS = ("precision", "recall", "ndcg", "map", "mrr", "hit_rate")


@dataclass(frozen=True)
class _Hits:
    """Per common user: number of test items, and for each hit its rank (1-based)."""

    actual: pd.Series  # index user -> |test items|
    hits: pd.DataFrame  # columns: user, rank (only recommended items that are in the test set)
    k: int


def top_k(recs: pd.DataFrame, k: int, *, user: str = "user_id", score: str = "score") -> pd.DataFrame:
    """The ``k`` best rows per user by ``score`` (descending), with a 1-based ``rank`` column.

    Ties keep input order (a stable sort), as ``get_top_k_items`` does.
    """
    ordered = recs.sort_values([user, score], ascending=[True, False], kind="mergesort")
    out = ordered.groupby(user, sort=False).head(k).copy()
    out["rank"] = out.groupby(user, sort=False).cumcount().to_numpy() + 1
    return out.reset_index(drop=True)


def require_columns(frame: pd.DataFrame, name: str, user: str, item: str) -> None:
    """Raise a SchemaError naming what ``frame`` (called ``name`` in the message) lacks of ``user`` and ``item``."""
    missing = [c for c in (user, item) if c not in frame.columns]
    if missing:
        raise SchemaError(f"{name} lacks column(s) {missing}; it has {list(frame.columns)}",
                          hint=f"pass user= and item= naming the columns ({user!r}, {item!r} expected)")


def ranked_lists(recs: pd.DataFrame, k: int, *, user: str = "user_id", item: str = "item_id", score: str = "score",
                 name: str = "recs") -> pd.DataFrame:
    """Each user's top ``k`` rows of ``recs`` by ``score`` (or by an existing ``rank`` column), with a 1-based ``rank``.

    Raises:
        SchemaError: ``recs`` (called ``name`` in the message) lacks ``user``, ``item`` or both ``score`` and ``rank``.
    """
    require_columns(recs, name, user, item)
    if score in recs.columns:
        return top_k(recs[[user, item, score]], k, user=user, score=score)
    if "rank" in recs.columns:
        ranked = recs.sort_values([user, "rank"], kind="mergesort").groupby(user, sort=False).head(k).copy()
        ranked["rank"] = ranked.groupby(user, sort=False).cumcount().to_numpy() + 1
        return ranked
    raise SchemaError(f"{name} needs a {score!r} or 'rank' column; it has {list(recs.columns)}")


def _prepare(
    truth: pd.DataFrame, recs: pd.DataFrame, k: int, user: str, item: str, score: str
) -> _Hits:
    if k < 1:
        raise InputError(f"k must be at least 1, got {k}")
    require_columns(truth, "truth", user, item)
    ranked = ranked_lists(recs, k, user=user, item=item, score=score)
    common = np.intersect1d(pd.unique(truth[user]), pd.unique(ranked[user]))
    t = truth[truth[user].isin(common)][[user, item]].drop_duplicates()
    r = ranked[ranked[user].isin(common)][[user, item, "rank"]]
    actual = t.groupby(user).size()
    hits = r.merge(t, on=[user, item], how="inner")[[user, "rank"]].rename(columns={user: "user"})
    hits = hits.sort_values(["user", "rank"], kind="mergesort").reset_index(drop=True)
    return _Hits(actual=actual, hits=hits, k=k)


def _per_user(h: _Hits, values: pd.Series) -> pd.Series:
    """Per-hit-user values spread over every common user (users without a hit score 0)."""
    return values.reindex(h.actual.index, fill_value=0.0).astype(float)


def _precision(h: _Hits) -> pd.Series:
    return _per_user(h, h.hits.groupby("user").size() / h.k)


def _recall(h: _Hits) -> pd.Series:
    per_user = h.hits.groupby("user").size()
    return _per_user(h, per_user / h.actual.reindex(per_user.index))


def _ndcg(h: _Hits) -> pd.Series:
    dcg = (1.0 / np.log1p(h.hits["rank"].to_numpy(dtype=float)))
    dcg_user = pd.Series(dcg).groupby(h.hits["user"].to_numpy()).sum()
    ideal_cum = np.cumsum(1.0 / np.log1p(np.arange(1, h.k + 1, dtype=float)))
    n_ideal = np.minimum(h.actual.reindex(dcg_user.index).to_numpy(), h.k)
    return _per_user(h, dcg_user / ideal_cum[n_ideal - 1])


def _map(h: _Hits) -> pd.Series:
    hit_no = h.hits.groupby("user").cumcount().to_numpy() + 1
    prec = hit_no / h.hits["rank"].to_numpy(dtype=float)
    per_user = pd.Series(prec).groupby(h.hits["user"].to_numpy()).sum()
    return _per_user(h, per_user / h.actual.reindex(per_user.index))


def _mrr(h: _Hits) -> pd.Series:
    return _per_user(h, 1.0 / h.hits.groupby("user")["rank"].min())


def _hit_rate(h: _Hits) -> pd.Series:
    return _per_user(h, pd.Series(1.0, index=pd.unique(h.hits["user"])))


_FUNCS = {"precision": _precision, "recall": _recall, "ndcg": _ndcg, "map": _map, "mrr": _mrr, "hit_rate": _hit_rate}


def _mean(values: pd.Series) -> float:
    return float(values.sum() / max(len(values), 1))


def mean_metrics(rows: pd.DataFrame) -> dict[str, float]:
    """The metrics of :func:`per_user_ranking_metrics` rows averaged over their users (0 when there are none)."""
    return {c: _mean(rows[c]) for c in rows.columns}


def _check_names(metrics: Iterable[str]) -> list[str]:
    names = list(metrics)
    unknown = [m for m in names if m not in _FUNCS]
    if unknown:
        raise InputError(f"unknown ranking metric(s) {unknown}; known: {list(_FUNCS)}")
    return names


def per_user_ranking_metrics(
    truth: pd.DataFrame,
    recs: pd.DataFrame,
    k: int = 10,
    *,
    metrics: Iterable[str] = RANKING_METRICS,
    user: str = "user_id",
    item: str = "item_id",
    score: str = "score",
) -> pd.DataFrame:
    """Each user's ranking metrics (the rows whose mean :func:`ranking_metrics` reports).

    One row per user present in both ``truth`` and ``recs`` (index: the user id), one column per metric keyed
    ``name@k``; a user without a hit scores 0. Paired comparisons of two models
    (:func:`persona.evaluate.paired_difference`) need these rows, not the means.

    Raises:
        InputError: unknown metric or k < 1.
        SchemaError: a column is missing.
    """
    names = _check_names(metrics)
    h = _prepare(truth, recs, k, user, item, score)
    out = pd.DataFrame({f"{m}@{k}": _FUNCS[m](h) for m in names}, index=h.actual.index)
    out.index.name = user
    return out


def ranking_metrics(
    truth: pd.DataFrame,
    recs: pd.DataFrame,
    k: int = 10,
    *,
    metrics: Iterable[str] = RANKING_METRICS,
    user: str = "user_id",
    item: str = "item_id",
    score: str = "score",
) -> dict[str, float]:
    """Several ranking metrics at once (the hits are computed once).

    Args:
        truth: held-out interactions (columns ``user``, ``item``); every row is relevant.
        recs: recommendations with ``score`` (higher is better) or ``rank``; only the top ``k`` count.
        k: cut-off.
        metrics: names among precision, recall, ndcg, map, mrr, hit_rate.
        user: user column in both frames.
        item: item column in both frames.
        score: score column of ``recs``.

    Returns:
        ``{"precision@10": …, "recall@10": …, …}`` keyed ``name@k``.

    Raises:
        InputError: unknown metric or k < 1.
        SchemaError: a column is missing.
    """
    rows = per_user_ranking_metrics(truth, recs, k, metrics=metrics, user=user, item=item, score=score)
    return mean_metrics(rows)


def _single(name: str):  # noqa: ANN202 - builds the public one-metric functions below
    def metric(truth: pd.DataFrame, recs: pd.DataFrame, k: int = 10, *, user: str = "user_id",
               item: str = "item_id", score: str = "score") -> float:
        return _mean(_FUNCS[name](_prepare(truth, recs, k, user, item, score)))

    metric.__name__ = f"{name}_at_k"
    metric.__doc__ = f"{name}@k over users present in both ``truth`` and ``recs`` (see the module docstring)."
    return metric


precision_at_k = _single("precision")
recall_at_k = _single("recall")
ndcg_at_k = _single("ndcg")
map_at_k = _single("map")
mrr_at_k = _single("mrr")
hit_rate_at_k = _single("hit_rate")
