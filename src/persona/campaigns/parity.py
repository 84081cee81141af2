"""Parity of contact rates across customer groups under a campaign budget (``budget.parity`` in the spec).

The budget optimizer contacts customers by expected incremental profit per unit cost, which can leave a group
(older customers, say, whose predicted uplift is lower) contacted far less often than the others. Starting from
that greedy selection, :func:`enforce_parity` swaps customers until every *judged* group is contacted at a rate
of at least ``min_ratio`` times the highest judged group's rate, giving up as little expected profit as it can:

1. each group below the bound gets its best unselected customers (highest value per cost) until it reaches it;
2. if that overspends the budget, the selected customers with the lowest value per cost are dropped from the
   groups with slack (those above the bound, and the groups that are not judged), never below the bound;
3. dropping from the top group lowers the bound, so the two steps repeat; when they stall (no slack left) the
   top group gives up its worst contact and they go on, until the bound holds within the budget;
4. customers swapped in at a loss whose group has slack by then go again, and what the budget has left goes
   to the best profitable unselected customers whose group can take them without breaking the bound;
5. small moves at the margin (trade one group's least valuable contact for another's most valuable
   non-contact, add or drop one or a pair) while they gain profit within the budget and the bound: the rounds
   move in whole steps and can miss the best split by a contact or two.

Guarantees: the result never costs more than the budget; when it says feasible, every judged group passes the
bound by the audit's own float test; the rounds add each group's best customers and drop the worst, by value per
cost; with equal costs (a message price and no discount) small cases checked against brute force reach the
optimum. It is a greedy heuristic, like the budget's own selection: with unequal costs it can give up more
profit than the optimum would.

Rates are shares of the **live audience**: the campaign's audience minus the random holdouts (global and
experiment) and minus the customers who cannot be reached whatever the budget (no consent on any of the
campaign's channels, no e-mail address for a mail channel, an empty cart for a cart reminder): exactly the
customers the budget optimizer chooses among. A group is judged when its value is known and it has at least
``min_group`` live customers (the fairness audit's rule). Customers whose expected profit is not positive are
never picked by the budget, but may be added here when their group needs them to reach the bound.

The budget is a hard limit: when the bound cannot be met within it (the rounds run out still overspending), the
additions with the lowest value per cost are undone until the budget holds, and the result says so. When only
contacting nobody in any judged group would meet the bound (a budget smaller than one contact per group), the
budget's own selection is kept and reported as infeasible.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from persona.errors import InputError

#: rounds of add/drop before giving up (each round is vectorised; a few suffice outside tiny groups)
MAX_ROUNDS = 200
#: single trades between groups after the rounds (each costs a few vectorised steps over the groups)
MAX_SWAPS = 64
_UNKNOWN = "unknown"  # persona.fairness.groups.UNKNOWN, without importing the fairness package (scipy) here


@dataclass
class ParityResult:
    """What :func:`enforce_parity` did: rates per group before and after, swaps, cost and profit."""

    attribute: str
    min_ratio: float
    min_group: int
    #: one row per group: group, audience, judged, contacted/rate before and after (rates of judged groups only)
    groups: list[dict[str, Any]] = field(default_factory=list)
    ratio_before: float | None = None
    ratio_after: float | None = None
    swapped_in: int = 0
    swapped_out: int = 0
    #: of the swapped-in customers, those with non-positive expected profit (added only for parity)
    added_unprofitable: int = 0
    budget: float = 0.0
    cost_before: float = 0.0
    cost_after: float = 0.0
    profit_before: float = 0.0
    profit_after: float = 0.0
    feasible: bool = True
    reason: str | None = None
    rounds: int = 0
    denominator: str = "live audience (outside holdouts, reachable on a channel)"

    @property
    def cost_of_parity(self) -> float:
        """Expected profit given up for parity (before minus after)."""
        return self.profit_before - self.profit_after

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-ready values (rounded money and rates)."""
        d = asdict(self)
        d["cost_of_parity"] = round(self.cost_of_parity, 4)
        return d


def take_in_order(keep: np.ndarray, idx: np.ndarray, cost: np.ndarray, limit: float) -> float:
    """Select ``idx`` in order while the running cost stays within ``limit``, skipping whoever no longer fits
    (exactly the one-by-one loop, run as prefix sums; costs must not be negative). Sets ``keep`` in place.

    Returns:
        The cost of the customers selected here.
    """
    spent = 0.0
    while len(idx):
        sums = np.cumsum(np.concatenate(([spent], cost[idx])))[1:]
        over = sums > limit
        j = int(over.argmax()) if over.any() else len(idx)
        keep[idx[:j]] = True
        if j == len(idx):
            return float(sums[-1])
        spent = float(sums[j - 1]) if j else spent
        rest = idx[j + 1 :]
        idx = rest[spent + cost[rest] <= limit]
    return spent


def _rank_within(codes: np.ndarray) -> np.ndarray:
    """Each element's position among the elements of its group that come before it (0 for the first)."""
    if not len(codes):
        return np.zeros(0, dtype=np.int64)
    s = np.argsort(codes, kind="stable")
    cs = codes[s]
    rank = np.empty(len(codes), dtype=np.int64)
    rank[s] = np.arange(len(codes)) - np.searchsorted(cs, cs, side="left")
    return rank


def _need(k: np.ndarray, n: np.ndarray, judged: np.ndarray, min_ratio: float) -> np.ndarray:
    """The fewest contacts each judged group needs so that its rate over the top rate is at least ``min_ratio``.

    The test is the audit's own float expression, ``(k / n) / top >= min_ratio``, so that what passes here
    passes there.
    """
    need = np.zeros(len(n), dtype=np.int64)
    if not judged.any():
        return need
    rate = np.where(judged, k / np.maximum(n, 1), 0.0)
    top = rate.max()
    if top <= 0:
        return need
    need = np.ceil(min_ratio * top * n - 1e-9).astype(np.int64)
    short = (need / np.maximum(n, 1)) / top < min_ratio
    need = np.minimum(need + short, n)
    return np.where(judged, need, 0)


def enforce_parity(
    selected: np.ndarray,
    value: np.ndarray,
    cost: np.ndarray,
    groups: pd.Series | np.ndarray,
    *,
    budget: float,
    min_ratio: float = 0.8,
    min_group: int = 30,
    attribute: str = "group",
) -> tuple[np.ndarray, ParityResult]:
    """Swap customers into and out of a budgeted selection until every judged group's contact rate is at least
    ``min_ratio`` times the highest judged group's rate, within the budget.

    Args:
        selected: True for each live-audience customer the budget selected (the greedy solution).
        value: each customer's expected incremental profit.
        cost: each customer's expected cost (message plus expected discount).
        groups: each customer's group label (``"unknown"`` where the value is missing).
        budget: the spending limit the selection must keep.
        min_ratio: in (0, 1]; 0.8 is the four-fifths rule.
        min_group: groups with fewer live customers are not judged (neither constrained nor counted in the top).
        attribute: the attribute's name, for the report.

    Returns:
        The new selection (a boolean array) and a :class:`ParityResult`.

    Raises:
        InputError: arrays of different lengths, or ``min_ratio`` / ``min_group`` out of range.
    """
    keep0 = np.asarray(selected, dtype=bool)
    value = np.asarray(value, dtype=np.float64)
    cost = np.asarray(cost, dtype=np.float64)
    labels = np.asarray(groups, dtype=object)
    if not len(keep0) == len(value) == len(cost) == len(labels):
        raise InputError(f"selected, value, cost and groups need one entry per customer; got lengths "
                         f"{len(keep0)}, {len(value)}, {len(cost)}, {len(labels)}")
    if not 0.0 < float(min_ratio) <= 1.0:
        raise InputError(f"min_ratio must lie in (0, 1], got {min_ratio!r}", hint="0.8 is the four-fifths rule")
    if isinstance(min_group, bool) or not isinstance(min_group, int) or min_group < 2:
        raise InputError(f"min_group must be an integer of at least 2, got {min_group!r}")
    codes, uniques = pd.factorize(pd.Series(labels, dtype=object).fillna(_UNKNOWN), sort=True)
    n = np.bincount(codes, minlength=len(uniques)).astype(np.int64)
    judged = (n >= min_group) & (np.asarray(uniques, dtype=object) != _UNKNOWN)
    ratio = value / np.clip(cost, 1e-6, None)
    best_first = np.argsort(-ratio, kind="stable")
    worst_first = best_first[::-1]
    tol = 1e-9 * max(1.0, float(budget))

    keep = keep0.copy()
    cap = np.where(judged, n, np.iinfo(np.int64).max)  # contacts a group may have; lowered when the rounds stall

    def counts() -> np.ndarray:
        return np.bincount(codes, weights=keep, minlength=len(n)).astype(np.int64)

    rounds, satisfied = 0, False
    for rounds in range(1, MAX_ROUNDS + 1):  # noqa: B007 - the count is reported
        changed = False
        k = counts()
        over = np.maximum(k - cap, 0)
        if over.any():  # 0. a lowered top: the worst selected customers of the groups above it go
            idx = worst_first[keep[worst_first] & (over[codes[worst_first]] > 0)]
            keep[idx[_rank_within(codes[idx]) < over[codes[idx]]]] = False
            changed, k = True, counts()
        deficit = np.minimum(np.maximum(_need(k, n, judged, min_ratio) - k, 0), np.maximum(cap - k, 0))
        if deficit.any():  # 1. the best unselected customers of each group below the bound
            idx = best_first[~keep[best_first] & (deficit[codes[best_first]] > 0)]
            add = idx[_rank_within(codes[idx]) < deficit[codes[idx]]]
            keep[add] = True
            changed = changed or bool(len(add))
        excess = float(cost[keep].sum()) - budget
        if excess > tol:  # 2. the worst selected customers of the groups with slack pay for it
            k = counts()
            slack = np.where(judged, k - _need(k, n, judged, min_ratio), k)
            idx = worst_first[keep[worst_first] & (cost[worst_first] > 0) & (slack[codes[worst_first]] > 0)]
            idx = idx[_rank_within(codes[idx]) < slack[codes[idx]]]
            if len(idx):
                freed = np.cumsum(cost[idx])
                keep[idx[: int(np.searchsorted(freed, excess - tol, side="left")) + 1]] = False
                changed = True
        k = counts()
        if float(cost[keep].sum()) - budget <= tol and not (_need(k, n, judged, min_ratio) > k).any():
            satisfied = True
            # customers who lose money and whose group has slack go again (the last drops lowered the bound)
            slack = np.where(judged, k - _need(k, n, judged, min_ratio), k)
            idx = worst_first[keep[worst_first] & ~keep0[worst_first] & (value[worst_first] <= 0) & (slack[codes[worst_first]] > 0)]
            keep[idx[_rank_within(codes[idx]) < slack[codes[idx]]]] = False
            _top_up(keep, value, cost, codes, n, judged, best_first, budget - float(cost[keep].sum()), min_ratio)
            _polish(keep, value, cost, codes, n, judged, budget + tol, min_ratio)
            break
        if not changed:  # 3. stalled (no slack left, or the bound needs more than a group may have): lower the top
            rate = np.where(judged, k / np.maximum(n, 1), 0.0)
            top = rate.max() if judged.any() else 0.0
            if top <= 0:
                break
            at_top = judged & (rate >= top)
            level = float(np.where(judged, (k - at_top) / np.maximum(n, 1), 0.0).max())
            cap = np.where(judged, np.minimum(cap, np.floor(level * n + 1e-9).astype(np.int64)), cap)
    reason = None
    k0 = np.bincount(codes, weights=keep0, minlength=len(n)).astype(np.int64)
    if satisfied and k0[judged].sum() > 0 and counts()[judged].sum() == 0:
        # contacting no judged group at all meets the bound trivially; that is no parity but no campaign: keep the
        # budget's own selection and say so
        keep[:] = keep0
        satisfied = False
        reason = (f"the budget of {budget:g} cannot pay for contacting every judged group at {min_ratio:.0%} or more of the "
                  "top group's rate with anyone contacted at all; kept the budget's own selection; raise the budget or "
                  "lower min_ratio")
    elif not satisfied:
        if float(cost[keep].sum()) - budget > tol:  # the budget is a hard limit: undo the weakest additions
            added = worst_first[keep[worst_first] & ~keep0[worst_first]]
            freed = np.cumsum(cost[added])
            over = float(cost[keep].sum()) - budget
            keep[added[: int(np.searchsorted(freed, over - tol, side="left")) + 1]] = False
        k = np.bincount(codes, weights=keep, minlength=len(n)).astype(np.int64)
        low = np.flatnonzero(judged & (_need(k, n, judged, min_ratio) > k))
        short = ", ".join(f"{uniques[g]} ({k[g]}/{n[g]})" for g in low[:5])
        reason = (f"the budget of {budget:g} cannot pay for contacting every judged group at {min_ratio:.0%} or more of the top "
                  f"group's rate; below the bound: {short or 'none'}; raise the budget or lower min_ratio")
    k1 = np.bincount(codes, weights=keep, minlength=len(n)).astype(np.int64)
    rows = []
    for g in np.argsort(-n, kind="stable"):
        j = bool(judged[g])
        rows.append({"group": str(uniques[g]), "audience": int(n[g]), "judged": j,
                     "contacted_before": int(k0[g]) if j else None, "rate_before": round(float(k0[g] / n[g]), 4) if j else None,
                     "contacted_after": int(k1[g]) if j else None, "rate_after": round(float(k1[g] / n[g]), 4) if j else None})
    swapped_in = keep & ~keep0
    result = ParityResult(
        attribute=attribute, min_ratio=float(min_ratio), min_group=int(min_group), groups=rows,
        ratio_before=_ratio(k0, n, judged), ratio_after=_ratio(k1, n, judged),
        swapped_in=int(swapped_in.sum()), swapped_out=int((keep0 & ~keep).sum()),
        added_unprofitable=int((swapped_in & (value <= 0)).sum()), budget=float(budget),
        cost_before=round(float(cost[keep0].sum()), 4), cost_after=round(float(cost[keep].sum()), 4),
        profit_before=round(float(value[keep0].sum()), 4), profit_after=round(float(value[keep].sum()), 4),
        feasible=satisfied, reason=reason, rounds=rounds,
    )
    return keep, result


def _top_up(keep: np.ndarray, value: np.ndarray, cost: np.ndarray, codes: np.ndarray, n: np.ndarray, judged: np.ndarray,
            best_first: np.ndarray, left: float, min_ratio: float) -> None:
    """Spend what the swaps left of the budget on profitable customers, best first, keeping every group within
    reach of the lowest judged rate (a group may rise to the lowest rate / ``min_ratio``). Changes ``keep``."""
    k = np.bincount(codes, weights=keep, minlength=len(n)).astype(np.int64)
    room = np.full(len(n), np.iinfo(np.int64).max // 2)
    if judged.sum() >= 1:
        low = float((k[judged] / n[judged]).min())
        most = np.floor(low / min_ratio * n + 1e-9).astype(np.int64)
        while True:  # the audit's float test, as in _need
            rate = most / np.maximum(n, 1)
            bad = judged & (most > 0) & (low / np.where(rate > 0, rate, 1.0) < min_ratio)
            if not bad.any():
                break
            most = most - bad
        room = np.where(judged, np.clip(np.minimum(most, n) - k, 0, None), room)
    idx = best_first[~keep[best_first] & (value[best_first] > 0) & (cost[best_first] >= 0) & (room[codes[best_first]] > 0)]
    idx = idx[_rank_within(codes[idx]) < room[codes[idx]]]
    take_in_order(keep, idx, cost, left)  # skip whoever no longer fits, as the budget's greedy does


def _polish(keep: np.ndarray, value: np.ndarray, cost: np.ndarray, codes: np.ndarray, n: np.ndarray, judged: np.ndarray,
            budget: float, min_ratio: float, max_moves: int = MAX_SWAPS) -> int:
    """Small moves at the margin while they gain profit within the budget and keep the bound: trade a group's
    least valuable contact for another's most valuable non-contact, add or drop one or a pair of them (the rounds
    move in whole steps and can miss the best split by a contact or two). Changes ``keep``; returns the moves."""
    g_count = len(n)
    order = np.lexsort((value, codes))  # by group, then by value, lowest first
    edges = np.searchsorted(codes[order], np.arange(g_count + 1))
    segs = [order[edges[g]:edges[g + 1]] for g in range(g_count)]
    out_lists = [seg[keep[seg]] for seg in segs]  # selected, least valuable first
    in_lists = [seg[~keep[seg]][::-1] for seg in segs]  # not selected, most valuable first
    p_out, p_in = np.zeros(g_count, dtype=np.int64), np.zeros(g_count, dtype=np.int64)
    k = np.bincount(codes, weights=keep, minlength=g_count).astype(np.int64)
    spent = float(cost[keep].sum())
    eye = np.eye(g_count, dtype=np.int64)
    upper = np.triu(np.ones((g_count, g_count), dtype=bool), 1)
    for moves in range(max_moves):
        o = np.array([out_lists[g][p_out[g]] if p_out[g] < len(out_lists[g]) else -1 for g in range(g_count)])
        i = np.array([in_lists[g][p_in[g]] if p_in[g] < len(in_lists[g]) else -1 for g in range(g_count)])
        vo, co = np.where(o >= 0, value[o], np.inf), np.where(o >= 0, cost[o], 0.0)
        vi, ci = np.where(i >= 0, value[i], -np.inf), np.where(i >= 0, cost[i], 0.0)
        # candidate moves as (gain, cost change, groups losing a contact, groups gaining one)
        gains = [vi[None, :] - vo[:, None], np.where(upper, vi[:, None] + vi[None, :], -np.inf),
                 np.where(upper, -vo[:, None] - vo[None, :], -np.inf), np.diag(vi), np.diag(-vo)]
        dcost = [ci[None, :] - co[:, None], ci[:, None] + ci[None, :], -co[:, None] - co[None, :], np.diag(ci), np.diag(-co)]
        gain, dc = np.stack(gains), np.stack(dcost)
        ok = (gain > 1e-12) & (spent + np.where(np.isfinite(dc), dc, np.inf) <= budget)
        cand = np.flatnonzero(ok.ravel())
        for c in cand[np.argsort(-gain.ravel()[cand], kind="stable")][:64]:
            kind, rest = divmod(int(c), g_count * g_count)
            a, b = divmod(rest, g_count)
            step = [eye[b] - eye[a], eye[a] + eye[b], -eye[a] - eye[b], eye[a] * (a == b), -eye[a] * (a == b)][kind]
            k2 = k + step
            if (_need(k2, n, judged, min_ratio) > k2).any():
                continue
            for g in {0: (a,), 2: (a, b), 4: (a,)}.get(kind, ()):  # the groups giving up their least valuable contact
                keep[o[g]] = False
                p_out[g] += 1
            for g in {0: (b,), 1: (a, b), 3: (a,)}.get(kind, ()):  # the groups taking their most valuable non-contact
                keep[i[g]] = True
                p_in[g] += 1
            spent += float(dc.ravel()[c])
            k = k2
            break
        else:
            return moves
    return max_moves


def _ratio(k: np.ndarray, n: np.ndarray, judged: np.ndarray) -> float | None:
    """Lowest over highest contact rate among the judged groups (None with fewer than two or no contact)."""
    if judged.sum() < 2:
        return None
    rate = k[judged] / n[judged]
    return None if rate.max() <= 0 else round(float(rate.min() / rate.max()), 4)


def parity_lines(parity: dict[str, Any]) -> list[str]:
    """One or two sentences for people about a plan's parity block (:meth:`ParityResult.to_dict`)."""
    def pct(r: float | None) -> str:
        return "n/a" if r is None else f"{r:.2f}"

    first = (f"parity by {parity['attribute']} (each group at least {parity['min_ratio']:.0%} of the top contact rate): "
             f"lowest/highest rate {pct(parity.get('ratio_before'))} -> {pct(parity.get('ratio_after'))}; "
             f"{parity['swapped_in']} customer(s) swapped in, {parity['swapped_out']} out; expected profit "
             f"{parity['profit_before']:,.2f} -> {parity['profit_after']:,.2f} (cost of parity {parity['cost_of_parity']:,.2f})")
    return [first] if parity.get("feasible") else [first, f"parity not reached: {parity.get('reason')}"]
