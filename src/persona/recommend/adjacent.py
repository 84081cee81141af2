"""Adjacent items: item-item similarity from what each customer picked just before or after (time order).

Customers browse in sessions: the items they view, rate or buy next to each other share a need, a page of
the shop or a moment (a release, a season), which plain co-occurrence over a whole history blurs. For every
customer the events are put in time order (consecutive repeats of one item count once), and each pair of
items at distance d ≤ ``window`` adds 1 − d / (window + 1) to both directions of a count matrix C (the
same windowed co-occurrence that :class:`~persona.recommend.ease.LocalEASERecommender` regresses on). The
similarity is W[i, j] = C[i, j] / (n_i^alpha · n_j^(1 - alpha)) with n the items' customer counts (alpha = 0.5: a
cosine-like normalisation), keeping the ``k`` strongest neighbours of each item. Scores are the customer's
history times W, so recent-history weighting and "because you … X" explanations work as for item-kNN.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from persona.data import Interactions
from persona.errors import InputError
from persona.recommend.itemmatrix import ItemMatrixRecommender, row_chunks, top_k_rows

log = logging.getLogger(__name__)

ADJACENCY_BATCH = 2_000_000  # item pairs gathered before they are summed into the count matrix
DENSE_ADJACENCY_CELLS = 16_000_000  # up to 4,000 items the counts are summed in a dense array (128 MB)


def paths(users: np.ndarray, items: np.ndarray, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(user, item) of the events, each user's in time order (ties keep the given order), with consecutive
    repeats of one item by one user counted once (a view, a cart and a purchase of an item in a row are one
    step of the path)."""
    order = np.lexsort((times, users))  # stable: events at the same time keep their order
    u, i = users[order], items[order].astype(np.int64)
    if len(u) > 1:
        repeat = np.concatenate([[False], (u[1:] == u[:-1]) & (i[1:] == i[:-1])])
        u, i = u[~repeat], i[~repeat]
    return u, i


def timed_paths(data: Interactions) -> tuple[np.ndarray, np.ndarray]:
    """:func:`paths` of an interaction log's timed events (untimed ones are left out).

    Raises:
        InputError: the data has no timestamps.
    """
    if not data.has_time:
        raise InputError("this model needs event timestamps, and these interactions have none",
                         hint="load events with a time column, or use itemknn / ease for order-free co-occurrence")
    lg = data.log
    t = pd.to_numeric(lg["time"], errors="coerce").to_numpy(dtype=np.float64)
    ok = np.isfinite(t)
    return paths(lg["user_idx"].to_numpy()[ok], lg["item_idx"].to_numpy()[ok], t[ok])


def adjacency_counts(users: np.ndarray, items: np.ndarray, times: np.ndarray, n_items: int,
                     window: int) -> sp.csr_matrix:
    """Item × item counts of items at most ``window`` events apart in one user's time order, kernel-weighted.

    A pair d events apart adds 1 − d / (window + 1) to both directions (a triangular kernel, so that the
    counts are a positive semi-definite Gram matrix: the sum over users of windowed co-occurrence); each
    event adds 1 to its item's diagonal. Consecutive repeats of one item by one user count once (a view, a
    cart and a purchase of an item in a row are one step of the path).

    Args:
        users, items, times: one entry per event (ties in time keep the given order).
        n_items: size of the item index.
        window: largest distance (in events) that counts.

    Returns:
        Symmetric CSR float64 matrix (n_items × n_items).
    """
    return path_adjacency(*paths(users, items, times), n_items, window)


def path_adjacency(u: np.ndarray, i: np.ndarray, n_items: int, window: int) -> sp.csr_matrix:
    """:func:`adjacency_counts` of events already put in :func:`paths` order."""
    diag = np.bincount(i, minlength=n_items).astype(np.float64)
    dense = n_items * n_items <= DENSE_ADJACENCY_CELLS
    # pairs are gathered over a batch of distances and summed at once: adding one sparse matrix per distance
    # costs O(window × nnz); a small catalogue is counted straight into a dense array by bincount
    acc: np.ndarray | sp.csr_matrix = np.zeros(n_items * n_items) if dense else sp.diags(diag).tocsr()
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    vals: list[np.ndarray] = []

    def flush(acc: np.ndarray | sp.csr_matrix) -> np.ndarray | sp.csr_matrix:
        if rows:
            r, c, w = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
            rows.clear()
            cols.clear()
            vals.clear()
            if isinstance(acc, np.ndarray):
                acc += np.bincount(r * n_items + c, weights=w, minlength=n_items * n_items)
            else:
                acc = acc + sp.csr_matrix((np.concatenate([w, w]), (np.concatenate([r, c]), np.concatenate([c, r]))),
                                          shape=(n_items, n_items))
        return acc

    pending = 0
    for d in range(1, min(window, max(len(u) - 1, 0)) + 1):
        same = u[d:] == u[:-d]
        rows.append(i[:-d][same])
        cols.append(i[d:][same])
        vals.append(np.full(len(rows[-1]), 1.0 - d / (window + 1.0)))
        pending += len(rows[-1])
        if pending >= ADJACENCY_BATCH:
            acc, pending = flush(acc), 0
    acc = flush(acc)
    if isinstance(acc, np.ndarray):
        m = acc.reshape(n_items, n_items)
        m += m.T.copy()
        m[np.diag_indices(n_items)] += diag
        return sp.csr_matrix(m)
    return acc.tocsr()


def timed_adjacency(data: Interactions, window: int) -> sp.csr_matrix:
    """:func:`adjacency_counts` of an interaction log's timed events (untimed ones are left out).

    Raises:
        InputError: the data has no timestamps.
    """
    return path_adjacency(*timed_paths(data), data.n_items, int(window))


class AdjacentItemsRecommender(ItemMatrixRecommender):
    """Item model of what customers pick next to each other in time: score(u, j) = Σ_i x(u, i) · W[i, j].

    Needs timestamps (events without one are left out of the counts).

    Args:
        window: how many events before and after each event count as adjacent.
        alpha: normalisation exponent of the source item's customer count (1 - alpha for the target's).
        k: neighbours kept per item.
        binary: score 0/1 histories (True) or the event weights.
    """

    name: ClassVar[str] = "adjacent"
    default_reason: ClassVar[str] = "often picked next to items you chose"

    def __init__(self, window: int = 10, alpha: float = 0.5, k: int = 200, binary: bool = True):
        self.window = window
        self.alpha = alpha
        self.k = k
        self.binary = binary

    def _validate_params(self) -> None:
        for p in ("window", "k"):
            v = getattr(self, p)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise InputError(f"adjacent-items {p} must be a positive integer, got {v!r}")
        if isinstance(self.alpha, bool) or not isinstance(self.alpha, int | float) or not 0 <= self.alpha <= 1:
            raise InputError(f"adjacent-items alpha must lie in [0, 1], got {self.alpha!r}")

    def unfit_reason(self, data: Interactions) -> str | None:
        return None if data.has_time else "needs event timestamps"

    def _fit(self, data: Interactions) -> None:
        counts = timed_adjacency(data, int(self.window))
        counts = (counts - sp.diags(counts.diagonal())).tocsr()  # an item is not its own neighbour
        counts.eliminate_zeros()
        x = self._input(data)
        n = np.asarray((x > 0).sum(axis=0)).ravel().astype(np.float64)
        src = np.divide(1.0, n ** self.alpha, out=np.zeros_like(n), where=n > 0)
        dst = np.divide(1.0, n ** (1.0 - self.alpha), out=np.zeros_like(n), where=n > 0)
        w = (sp.diags(src.astype(np.float32)) @ counts @ sp.diags(dst.astype(np.float32))).tocsr()

        def blocks() -> Iterator[sp.csr_matrix]:
            for rows in row_chunks(data.n_items, data.n_items):
                yield w[rows]

        self.similarity_ = top_k_rows(blocks(), data.n_items, int(self.k))
        self._x_ = x
        log.info("adjacent items fitted: %d item pairs kept", self.similarity_.nnz)
