"""Diversity re-ranking: maximal marginal relevance (MMR) with a 0..1 knob, and per-category caps."""

from __future__ import annotations

import numpy as np

from persona.errors import InputError


def check_diversity(diversity: float, max_per_category: int | None) -> None:
    """Validate the re-ranking knobs.

    Raises:
        InputError: ``diversity`` outside [0, 1] or ``max_per_category`` below 1.
    """
    if not isinstance(diversity, int | float) or not 0.0 <= float(diversity) <= 1.0:
        raise InputError(
            f"diversity must be a number in [0, 1], got {diversity!r}", hint="0 = pure relevance"
        )
    if max_per_category is not None and (not isinstance(max_per_category, int) or max_per_category < 1):
        raise InputError(f"max_per_category must be a positive integer or None, got {max_per_category!r}")


def mmr_rerank(
    scores: np.ndarray,
    similarity: np.ndarray | None,
    k: int,
    *,
    diversity: float = 0.0,
    categories: np.ndarray | None = None,
    max_per_category: int | None = None,
) -> np.ndarray:
    """Pick ``k`` positions from a candidate pool, trading relevance for novelty.

    Each step takes ``argmax (1 - diversity) * rel_i - diversity * max_j sim(i, j)`` over the picked ``j``;
    relevance is min-max scaled to [0, 1]. Without ``similarity``, two items of the same category count
    as similarity 1. ``max_per_category`` skips items whose category is already full.

    Args:
        scores: relevance of the pool (best first is not required).
        similarity: pool × pool item similarity, or None.
        k: how many to pick.
        diversity: 0 = pure relevance, 1 = pure novelty.
        categories: category code per pool item (-1 = unknown, never capped), or None.
        max_per_category: cap per category, or None.

    Returns:
        Positions into the pool, in pick order (fewer than ``k`` when caps leave too few).
    """
    n = len(scores)
    if n == 0:
        return np.empty(0, dtype=np.int64)
    s = np.asarray(scores, dtype=np.float64)
    lo, hi = s.min(), s.max()
    rel = (s - lo) / (hi - lo) if hi > lo else np.ones(n)
    if similarity is None and categories is not None and diversity > 0:
        c = np.asarray(categories)
        similarity = ((c[:, None] == c[None, :]) & (c[:, None] >= 0)).astype(np.float64)
    max_sim = np.zeros(n)
    picked: list[int] = []
    free = np.ones(n, dtype=bool)
    counts: dict[int, int] = {}
    while len(picked) < k and free.any():
        obj = (1.0 - diversity) * rel - (diversity * max_sim if similarity is not None else 0.0)
        obj = np.where(free, obj, -np.inf)
        i = int(np.argmax(obj))
        free[i] = False
        if max_per_category is not None and categories is not None and categories[i] >= 0:
            cat = int(categories[i])
            if counts.get(cat, 0) >= max_per_category:
                continue
            counts[cat] = counts.get(cat, 0) + 1
        picked.append(i)
        if similarity is not None and diversity > 0:
            max_sim = np.maximum(max_sim, similarity[i])
    return np.asarray(picked, dtype=np.int64)
