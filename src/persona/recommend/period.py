"""Period popularity: what was popular while the user was active (availability and trends of the time).

For each user the window runs from their first to their last interaction, widened on both sides by
``window / 2`` of all the log's events (in time order, so the width adapts to how busy the shop was).
An item's score is log(1 + its interactions inside that window), counted over at most 256 time bins of
equal event counts (windows snap to whole bins). Catalogues change (new releases,
seasonal items): this ranks what users active at that time could and did pick.
"""

from __future__ import annotations

import logging
from typing import ClassVar

import numpy as np
import pandas as pd

from persona.data import Interactions
from persona.errors import InputError
from persona.recommend.base import Recommender

log = logging.getLogger(__name__)

MAX_BINS = 256  # time bins of equal event counts (windows are whole bins; exact when events ≤ MAX_BINS)


class PeriodPopularRecommender(Recommender):
    """Popularity within each user's active period (widened by a share of all events); global without time.

    Args:
        window: share of all events added around the user's active period (half before, half after).
    """

    name: ClassVar[str] = "period"
    default_reason: ClassVar[str] = "popular while you were shopping"
    explains_by_history: ClassVar[bool] = False

    def __init__(self, window: float = 0.1):
        self.window = window

    def _validate_params(self) -> None:
        if isinstance(self.window, bool) or not isinstance(self.window, int | float) or not 0 < self.window <= 1:
            raise InputError(f"period window must be a share of events in (0, 1], got {self.window!r}")

    def _fit(self, data: Interactions) -> None:
        lg = data.log
        pop = np.bincount(data.matrix.indices, minlength=data.n_items).astype(np.float32)
        self.global_ = np.log1p(pop).astype(np.float32)
        self.timed_ = bool(data.has_time)
        if not self.timed_:
            return
        t = pd.to_numeric(lg["time"], errors="coerce").to_numpy(dtype=np.float64)
        ok = np.isfinite(t)
        u = lg["user_idx"].to_numpy()[ok]
        i = lg["item_idx"].to_numpy()[ok].astype(np.int64)
        t = t[ok]
        n = len(t)
        order = np.argsort(t, kind="stable")
        rank = np.empty(n, dtype=np.int64)
        rank[order] = np.arange(n)
        self.n_events_ = n
        n_bins = max(1, min(MAX_BINS, n))
        self.n_bins_ = n_bins
        binned = rank * n_bins // max(n, 1)
        counts = np.bincount((binned + 1) * data.n_items + i, minlength=(n_bins + 1) * data.n_items)
        counts = counts.reshape(n_bins + 1, data.n_items).astype(np.float32)
        self.cumulative_ = np.cumsum(counts, axis=0)  # row b: events per item in bins < b
        first = np.full(data.n_users, -1, dtype=np.int64)
        last = np.full(data.n_users, -1, dtype=np.int64)
        if n:
            lo = pd.Series(rank).groupby(u).min()
            hi = pd.Series(rank).groupby(u).max()
            first[lo.index.to_numpy()] = lo.to_numpy()
            last[hi.index.to_numpy()] = hi.to_numpy()
        half = int(round(float(self.window) * n / 2))
        lo = np.maximum(first - half, 0) * n_bins // max(n, 1)
        hi = np.minimum(last + half, n - 1) * n_bins // max(n, 1)
        self.lo_ = np.where(first >= 0, lo, -1)
        self.hi_ = np.where(last >= 0, hi, -1)

    def score(self, user_idx: np.ndarray) -> np.ndarray:
        self._check_fitted()
        idx = np.asarray(user_idx, dtype=np.int64)
        out = np.tile(self.global_, (len(idx), 1))
        if not self.timed_ or not self.n_events_:
            return out
        has = self.lo_[idx] >= 0
        r = idx[has]
        c = self.cumulative_
        out[has] = np.log1p(c[self.hi_[r] + 1] - c[self.lo_[r]])
        return out
