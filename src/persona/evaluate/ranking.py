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

    n_users: int
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


def _prepare(
    truth: pd.DataFrame, recs: pd.DataFrame, k: int, user: str, item: str, score: str
) -> _Hits:
    if k < 1:
        raise InputError(f"k must be at least 1, got {k}")
    for name, frame, cols in (("truth", truth, [user, item]), ("recs", recs, [user, item])):
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            raise SchemaError(f"{name} lacks column(s) {missing}; it has {list(frame.columns)}",
                              hint=f"pass user= and item= naming the columns ({user!r}, {item!r} expected)")
    if score in recs.columns:
        ranked = top_k(recs[[user, item, score]], k, user=user, score=score)
    elif "rank" in recs.columns:
        ranked = recs.sort_values([user, "rank"], kind="mergesort").groupby(user, sort=False).head(k).copy()
        ranked["rank"] = ranked.groupby(user, sort=False).cumcount().to_numpy() + 1
    else:
        raise SchemaError(f"recs needs a {score!r} or 'rank' column; it has {list(recs.columns)}")
    common = np.intersect1d(pd.unique(truth[user]), pd.unique(ranked[user]))
    t = truth[truth[user].isin(common)][[user, item]].drop_duplicates()
    r = ranked[ranked[user].isin(common)][[user, item, "rank"]]
    actual = t.groupby(user).size()
    hits = r.merge(t, on=[user, item], how="inner")[[user, "rank"]].rename(columns={user: "user"})
    hits = hits.sort_values(["user", "rank"], kind="mergesort").reset_index(drop=True)
    return _Hits(n_users=len(common), actual=actual, hits=hits, k=k)


def _precision(h: _Hits) -> float:
    return float(len(h.hits) / h.k / h.n_users) if h.n_users else 0.0


def _recall(h: _Hits) -> float:
    if not h.n_users:
        return 0.0
    per_user = h.hits.groupby("user").size()
    return float((per_user / h.actual.reindex(per_user.index)).sum() / h.n_users)


def _ndcg(h: _Hits) -> float:
    if not h.n_users:
        return 0.0
    dcg = (1.0 / np.log1p(h.hits["rank"].to_numpy(dtype=float)))
    dcg_user = pd.Series(dcg).groupby(h.hits["user"].to_numpy()).sum()
    gains = 1.0 / np.log1p(np.arange(1, h.k + 1, dtype=float))
    ideal_cum = np.cumsum(gains)
    n_ideal = np.minimum(h.actual.reindex(dcg_user.index).to_numpy(), h.k)
    idcg = ideal_cum[n_ideal - 1]
    return float((dcg_user.to_numpy() / idcg).sum() / h.n_users)


def _map(h: _Hits) -> float:
    if not h.n_users:
        return 0.0
    hit_no = h.hits.groupby("user").cumcount().to_numpy() + 1
    prec = hit_no / h.hits["rank"].to_numpy(dtype=float)
    per_user = pd.Series(prec).groupby(h.hits["user"].to_numpy()).sum()
    return float((per_user / h.actual.reindex(per_user.index)).sum() / h.n_users)


def _mrr(h: _Hits) -> float:
    if not h.n_users:
        return 0.0
    first = h.hits.groupby("user")["rank"].min()
    return float((1.0 / first).sum() / h.n_users)


def _hit_rate(h: _Hits) -> float:
    return float(h.hits["user"].nunique() / h.n_users) if h.n_users else 0.0


_FUNCS = {"precision": _precision, "recall": _recall, "ndcg": _ndcg, "map": _map, "mrr": _mrr, "hit_rate": _hit_rate}


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
    names = list(metrics)
    unknown = [m for m in names if m not in _FUNCS]
    if unknown:
        raise InputError(f"unknown ranking metric(s) {unknown}; known: {list(_FUNCS)}")
    h = _prepare(truth, recs, k, user, item, score)
    return {f"{m}@{k}": _FUNCS[m](h) for m in names}


def _single(name: str):  # noqa: ANN202 - builds the public one-metric functions below
    def metric(truth: pd.DataFrame, recs: pd.DataFrame, k: int = 10, *, user: str = "user_id",
               item: str = "item_id", score: str = "score") -> float:
        return _FUNCS[name](_prepare(truth, recs, k, user, item, score))

    metric.__name__ = f"{name}_at_k"
    metric.__doc__ = f"{name}@k over users present in both ``truth`` and ``recs`` (see the module docstring)."
    return metric


precision_at_k = _single("precision")
recall_at_k = _single("recall")
ndcg_at_k = _single("ndcg")
map_at_k = _single("map")
mrr_at_k = _single("mrr")
hit_rate_at_k = _single("hit_rate")
