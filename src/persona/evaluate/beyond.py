"""Beyond-accuracy metrics of a recommendation list: coverage, diversity, novelty, popularity bias.

``train`` is the interaction log the model learned from (columns ``user``, ``item``); item
popularity is the number of distinct users who interacted with an item there.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from persona.errors import InputError


def _popularity(train: pd.DataFrame, user: str, item: str) -> pd.Series:
    return train[[user, item]].drop_duplicates().groupby(item).size()


def catalog_coverage(recs: pd.DataFrame, catalog: int | pd.Series | np.ndarray | list, *, item: str = "item_id") -> float:
    """Share of the catalogue that appears in at least one recommendation list.

    Args:
        recs: recommendations (column ``item``).
        catalog: catalogue size, or the catalogue's item ids.
        item: item column.

    Returns:
        distinct recommended items / catalogue size, in [0, 1].
    """
    size = int(catalog) if isinstance(catalog, int | np.integer) else len(pd.unique(pd.Series(catalog)))
    if size <= 0:
        raise InputError("the catalogue is empty", hint="pass the number of items or their ids")
    return float(recs[item].nunique() / size)


def novelty(recs: pd.DataFrame, train: pd.DataFrame, *, user: str = "user_id", item: str = "item_id") -> float:
    """Mean self-information ``-log2(popularity / n_users)`` of recommended items (higher = less obvious).

    Items never seen in ``train`` are skipped (their novelty is undefined).
    """
    pop = _popularity(train, user, item)
    n_users = train[user].nunique()
    p = recs[item].map(pop).dropna().to_numpy(dtype=float) / max(n_users, 1)
    return float(np.mean(-np.log2(p))) if len(p) else 0.0


def average_popularity(recs: pd.DataFrame, train: pd.DataFrame, *, user: str = "user_id", item: str = "item_id") -> float:
    """Average recommendation popularity (ARP): mean, over users, of their list's mean item popularity.

    Popularity is the share of training users who interacted with the item, so 0.05 reads "the
    typical recommended item was seen by 5% of users". Lower means less popularity bias.
    """
    pop = _popularity(train, user, item) / max(train[user].nunique(), 1)
    per_user = recs.assign(_p=recs[item].map(pop).fillna(0.0)).groupby(user)["_p"].mean()
    return float(per_user.mean()) if len(per_user) else 0.0


def gini_index(recs: pd.DataFrame, catalog: int | None = None, *, item: str = "item_id") -> float:
    """Gini coefficient of how often each item is recommended (0 = even exposure, 1 = one item only).

    Args:
        recs: recommendations.
        catalog: catalogue size; items never recommended count as zero exposure.
        item: item column.
    """
    counts = recs[item].value_counts().to_numpy(dtype=float)
    if catalog is not None and catalog > len(counts):
        counts = np.concatenate([counts, np.zeros(catalog - len(counts))])
    n = len(counts)
    if n == 0 or counts.sum() == 0:
        return 0.0
    x = np.sort(counts)
    idx = np.arange(1, n + 1)
    return float((2 * idx - n - 1).dot(x) / (n * x.sum()))


def intra_list_diversity(
    recs: pd.DataFrame,
    item_vectors: sp.spmatrix | np.ndarray,
    item_ids: pd.Index | np.ndarray | list,
    *,
    user: str = "user_id",
    item: str = "item_id",
) -> float:
    """Mean over users of 1 - average pairwise cosine similarity of the items in their list.

    Args:
        recs: recommendations.
        item_vectors: one row per item (e.g. the columns of the user×item matrix, or features).
        item_ids: the item id of each row of ``item_vectors``.
        user: user column.
        item: item column.

    Returns:
        diversity in [0, 1] for non-negative vectors (1 = no two items alike); lists of one item are skipped.
    """
    index = pd.Index(item_ids)
    rows = index.get_indexer(recs[item])
    frame = pd.DataFrame({"u": recs[user].to_numpy(), "r": rows})
    frame = frame[frame["r"] >= 0]
    x = sp.csr_matrix(item_vectors, dtype=np.float64)
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    x = sp.diags(1.0 / norms) @ x
    # a list's pairwise similarities sum to |Σ v|² − Σ |v|² (its unit vectors v): one sparse product for all lists
    u, users = pd.factorize(frame["u"])
    r = frame["r"].to_numpy()
    lists = sp.csr_matrix((np.ones(len(r)), (u, r)), shape=(len(users), x.shape[0]))
    m = np.asarray(lists.sum(axis=1)).ravel()
    summed = lists @ x
    pairs = np.asarray(summed.multiply(summed).sum(axis=1)).ravel() - lists @ np.asarray(x.multiply(x).sum(axis=1)).ravel()
    ok = m >= 2
    if not ok.any():
        return 0.0
    return float(np.mean(1.0 - pairs[ok] / (m[ok] * (m[ok] - 1))))
