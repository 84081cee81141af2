"""Team-draft interleaving of two rankings (Radlinski, Kurup & Joachims 2008) and its analysis.

Interleaving shows each customer one merged list whose items are drafted alternately by the two
rankers; the ranker whose items get more clicks wins that impression. It needs one to two orders of
magnitude less traffic than an A/B test to tell two recommenders apart.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from persona.errors import InputError


@dataclass(frozen=True)
class Interleaving:
    """One interleaved list: the items shown and which team ("A" or "B") contributed each."""

    items: list[Any]
    teams: list[str]

    def credit(self, clicked: Iterable[Any]) -> tuple[int, int]:
        """Clicks credited to A and to B."""
        clicked = set(clicked)
        a = sum(1 for i, tm in zip(self.items, self.teams, strict=True) if i in clicked and tm == "A")
        b = sum(1 for i, tm in zip(self.items, self.teams, strict=True) if i in clicked and tm == "B")
        return a, b


def _rng(seed: int | str | None) -> np.random.Generator:
    if isinstance(seed, str):
        seed = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big")
    return np.random.default_rng(seed)


def team_draft(ranking_a: Sequence[Any], ranking_b: Sequence[Any], k: int = 10, *, seed: int | str | None = None) -> Interleaving:
    """Merge two rankings by team draft.

    Args:
        ranking_a: items of ranker A, best first.
        ranking_b: items of ranker B, best first.
        k: length of the merged list.
        seed: coin-flip seed; pass e.g. ``f"{experiment}:{customer}:{request}"`` for a reproducible list.

    Returns:
        The interleaved list with each item's team.
    """
    if k < 1:
        raise InputError(f"k must be >= 1, got {k}")
    rng = _rng(seed)
    items: list[Any] = []
    teams: list[str] = []
    shown: set[Any] = set()
    ia = ib = 0
    na = nb = 0
    a, b = list(ranking_a), list(ranking_b)
    while len(items) < k:
        while ia < len(a) and a[ia] in shown:
            ia += 1
        while ib < len(b) and b[ib] in shown:
            ib += 1
        if ia >= len(a) and ib >= len(b):
            break
        pick_a = (na < nb or (na == nb and rng.random() < 0.5)) if ia < len(a) and ib < len(b) else ia < len(a)
        if pick_a:
            items.append(a[ia]); teams.append("A"); shown.add(a[ia]); na += 1  # noqa: E702
        else:
            items.append(b[ib]); teams.append("B"); shown.add(b[ib]); nb += 1  # noqa: E702
    return Interleaving(items=items, teams=teams)


@dataclass
class InterleavingResult:
    """Outcome of an interleaving experiment over many impressions."""

    impressions: int
    wins_a: int
    wins_b: int
    ties: int
    preference_b: float  # (wins_b - wins_a) / impressions, in [-1, 1]
    ci_low: float
    ci_high: float
    p_value: float
    verdict: str
    extras: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("impressions", "wins_a", "wins_b", "ties", "preference_b", "ci_low",
                                              "ci_high", "p_value", "verdict")}


def analyze_interleaving(credits: pd.DataFrame | Sequence[tuple[int, int]], *, alpha: float = 0.05,
                         name_a: str = "A", name_b: str = "B", n_boot: int = 2000, seed: int = 0) -> InterleavingResult:
    """Who wins an interleaving experiment, with a sign test and a bootstrap interval on the preference.

    Args:
        credits: per impression, clicks credited to A and to B (DataFrame with columns ``a`` and ``b``,
            or pairs). Impressions without clicks count as ties.
        alpha: significance level.
        name_a, name_b: names of the rankers for the verdict.
        n_boot: bootstrap replicates for the preference interval.
        seed: bootstrap seed.
    """
    c = credits if isinstance(credits, pd.DataFrame) else pd.DataFrame(list(credits), columns=["a", "b"])
    if not {"a", "b"} <= set(c.columns):
        raise InputError(f"credits need columns 'a' and 'b', got {list(c.columns)}")
    if c.empty:
        raise InputError("no impressions to analyse")
    a, b = c["a"].to_numpy(float), c["b"].to_numpy(float)
    outcome = np.sign(b - a)  # +1 B wins, -1 A wins, 0 tie
    n = len(outcome)
    wa, wb = int((outcome < 0).sum()), int((outcome > 0).sum())
    pref = float(outcome.mean())
    rng = np.random.default_rng(seed)
    boots = np.empty(n_boot)
    for s in range(0, n_boot, 200):
        kk = min(200, n_boot - s)
        boots[s:s + kk] = outcome[rng.integers(0, n, size=(kk, n))].mean(axis=1)
    lo, hi = np.quantile(boots, [alpha / 2, 1 - alpha / 2]) if n_boot else (np.nan, np.nan)
    p = float(stats.binomtest(wb, wa + wb, 0.5).pvalue) if wa + wb else 1.0
    if p < alpha:
        winner = name_b if wb > wa else name_a
        verdict = (f"{winner} wins: it takes the clicks in {max(wa, wb):,} impressions against {min(wa, wb):,} "
                   f"(sign test {'p < 0.001' if p < 0.001 else f'p = {p:.3f}'}); preference for {name_b} "
                   f"{pref:+.3f} ({(1 - alpha):.0%} CI {lo:+.3f} to {hi:+.3f}).")
    else:
        verdict = (f"No clear winner between {name_a} and {name_b}: {wa:,} vs {wb:,} wins, {n - wa - wb:,} ties "
                   f"(sign test p = {p:.3f}).")
    return InterleavingResult(impressions=n, wins_a=wa, wins_b=wb, ties=n - wa - wb, preference_b=pref,
                              ci_low=float(lo), ci_high=float(hi), p_value=p, verdict=verdict)
