"""Popularity baselines: global best-sellers, recency-decayed trending, and best-sellers per segment."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from persona.data import Interactions
from persona.errors import InputError
from persona.recommend.base import Recommender
from persona.recommend.coldstart import SEGMENT_COLUMN, trending_scores

MODES = ("global", "trending", "segment")
GLOBAL_REASON = "popular with shoppers"


class PopularRecommender(Recommender):
    """Recommend what most users interact with.

    Args:
        mode: ``global`` (distinct users per item), ``trending`` (events decayed with ``half_life_days``),
            or ``segment`` (popularity within the user's ``segment_column``, global for users without one).
        half_life_days: recency half-life for ``trending``.
        segment_column: column of ``Interactions.users`` for ``segment`` mode.
    """

    name: ClassVar[str] = "popular"
    explains_by_history: ClassVar[bool] = False
    similar_reason: ClassVar[str] = "often chosen together with {item}"

    def __init__(
        self, mode: str = "global", half_life_days: float = 14.0, segment_column: str = SEGMENT_COLUMN
    ):
        self.mode = mode
        self.half_life_days = half_life_days
        self.segment_column = segment_column

    @property
    def default_reason(self) -> str:  # type: ignore[override]
        return {
            "global": GLOBAL_REASON,
            "trending": "trending now",
            "segment": "popular in your segment",
        }.get(self.mode, "popular")

    def _validate_params(self) -> None:
        if self.mode not in MODES:
            raise InputError(f"popular mode must be one of {MODES}, got {self.mode!r}")
        if not isinstance(self.half_life_days, int | float) or self.half_life_days <= 0:
            raise InputError(f"half_life_days must be a positive number, got {self.half_life_days!r}")

    def _fit(self, data: Interactions) -> None:
        users_per_item = data.item_popularity().astype(np.float64)
        if self.mode == "trending":
            pop = trending_scores(data, self.half_life_days)
        else:
            pop = users_per_item
        # tiny tie-break by distinct users keeps the order stable and sensible
        top = pop.max() if len(pop) and pop.max() > 0 else 1.0
        self.item_scores_ = (pop / top + 1e-6 * users_per_item / max(1.0, users_per_item.max())).astype(
            np.float32
        )
        self.user_group_ = np.full(data.n_users, -1, dtype=np.int64)
        self.group_scores_ = np.zeros((0, data.n_items), dtype=np.float32)
        self.group_names_: list[str] = []
        if self.mode == "segment" and self.segment_column in data.users.columns:
            seg = data.users[self.segment_column]
            names = [str(v) for v in seg.dropna().unique()]
            lookup = {v: i for i, v in enumerate(names)}
            self.user_group_ = np.array(
                [lookup.get(str(v), -1) if v == v and v is not None else -1 for v in seg]
            )
            binary = data.matrix.copy()
            binary.data[:] = 1.0
            groups = np.zeros((len(names), data.n_items), dtype=np.float64)
            for g in range(len(names)):
                rows = np.flatnonzero(self.user_group_ == g)
                if len(rows):
                    groups[g] = np.asarray(binary[rows].sum(axis=0)).ravel()
            mx = groups.max(axis=1, keepdims=True)
            mx[mx == 0] = 1.0
            self.group_scores_ = (groups / mx + 1e-6 * self.item_scores_).astype(np.float32)
            self.group_names_ = names

    def score(self, user_idx: np.ndarray) -> np.ndarray:
        self._check_fitted()
        user_idx = np.asarray(user_idx, dtype=np.int64)
        out = np.tile(self.item_scores_, (len(user_idx), 1))
        if len(self.group_names_):
            g = self.user_group_[user_idx]
            has = g >= 0
            out[has] = self.group_scores_[g[has]]
        return out

    def _explain_block(self, uidx: np.ndarray, rows: list[np.ndarray]) -> list[list[str]]:
        out = []
        for user, items in zip(uidx, rows, strict=True):
            if self.mode == "segment" and len(self.group_names_) and self.user_group_[user] >= 0:
                out.append(
                    [f"popular in your segment ({self.group_names_[self.user_group_[user]]})"] * len(items)
                )
            else:  # no segment for this customer: the global ranking, and a reason that says so
                out.append([GLOBAL_REASON if self.mode == "segment" else self.default_reason] * len(items))
        return out
