"""Group comparisons: a per-customer measure (a mean or a rate) by group, each group against the rest.

A group is *judged* when it has at least ``min_group`` customers and is not ``unknown``: smaller groups are
listed with their size only (their figures would be noise, and printing them could single people out).
Each judged group is tested against everyone else (Welch's t-test for means, a 2×2 chi-square or Fisher's
exact test for rates), the p-values Holm-corrected over the groups of one attribute. Rates also give the
disparate-impact ratio (lowest rate / highest rate; the "four-fifths rule" asks for at least 0.8).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from persona.errors import InputError
from persona.fairness.groups import UNKNOWN

MIN_GROUP = 30
ALPHA = 0.05
FOUR_FIFTHS = 0.8


@dataclass
class GroupComparison:
    """One measure by the groups of one attribute."""

    attribute: str
    measure: str
    kind: str  # "mean" or "rate"
    table: pd.DataFrame  # group, n, value, ci_low, ci_high, gap, p_value, p_holm, judged
    summary: dict[str, Any] = field(default_factory=dict)
    sentence: str = ""

    def to_dict(self, digits: int = 4) -> dict[str, Any]:
        rows = []
        for r in self.table.to_dict("records"):
            rows.append({k: (round(float(v), digits) if isinstance(v, float | np.floating) and np.isfinite(v) else
                             (None if isinstance(v, float | np.floating) else (bool(v) if isinstance(v, np.bool_) else v)))
                         for k, v in r.items()})
        return {"attribute": self.attribute, "measure": self.measure, "kind": self.kind, "groups": rows,
                "summary": self.summary, "sentence": self.sentence}


def _holm(p: np.ndarray) -> np.ndarray:
    """Holm-adjusted p-values (NaN stays NaN)."""
    out = np.full(len(p), np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    if not len(ok):
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    m = len(order)
    adj = np.maximum.accumulate([min(1.0, (m - i) * p[j]) for i, j in enumerate(order)])
    out[order] = adj
    return out


def _aligned(values: pd.Series, groups: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(values, pd.Series) or not isinstance(groups, pd.Series):
        raise InputError("values and groups must be pandas Series indexed by customer id")
    g = groups.reindex(values.index)
    keep = g.notna().to_numpy()
    return values.to_numpy(dtype=np.float64)[keep], g.to_numpy(dtype=object)[keep]


def _fmt(v: float, kind: str) -> str:
    return f"{v:.0%}" if kind == "rate" else f"{v:.3f}"


def _sentence(attribute: str, measure: str, kind: str, table: pd.DataFrame, summary: dict[str, Any]) -> str:
    judged = table[table["judged"]]
    if len(judged) < 2:
        return f"{measure} by {attribute}: fewer than two groups have {summary['min_group']} or more customers, nothing to compare."
    parts = ", ".join(f"{r.group} {_fmt(r.value, kind)}" for r in judged.itertuples())
    flagged = judged[judged["p_holm"] < ALPHA]
    if len(flagged):
        # the largest gap; with two groups both gaps are equal: name the one below
        worst = flagged.assign(_g=-flagged["gap"].abs().round(12)).sort_values(["_g", "value"], kind="stable").iloc[0]
        side = "above" if worst["gap"] > 0 else "below"
        gap = f"{abs(worst['gap']) * 100:.1f} points" if kind == "rate" else f"{abs(worst['gap']):.3f}"
        text = (f"{measure}, by {attribute}: {parts}. {worst['group']} is {gap} {side} the other customers "
                f"(p {worst['p_holm']:.3g} after Holm correction): a significant difference.")
    else:
        i = judged["gap"].abs().idxmax()
        text = (f"{measure}, by {attribute}: {parts}. No group differs significantly from the others "
                f"(largest gap {judged.at[i, 'group']} {judged.at[i, 'gap']:+.3f}, p {judged.at[i, 'p_holm']:.2g} after Holm correction).")
    if kind == "rate" and summary.get("impact_ratio") is not None:
        verdict = "meets the four-fifths rule"
        if not summary["four_fifths"]:
            verdict = ("fails the four-fifths rule" if summary["lowest"] in summary["significant"] or summary["highest"] in summary["significant"]
                       else "below the four-fifths rule, but within chance for groups this size")
        text += f" Lowest / highest rate: {summary['impact_ratio']:.2f} ({verdict})."
    return text


def _finish(attribute: str, measure: str, kind: str, rows: list[dict[str, Any]], min_group: int, overall_p: float) -> GroupComparison:
    table = pd.DataFrame(rows, columns=["group", "n", "value", "ci_low", "ci_high", "gap", "p_value", "judged"])
    table["p_holm"] = np.nan
    if len(table):
        j = table["judged"].to_numpy(dtype=bool)
        table.loc[j, "p_holm"] = _holm(table.loc[j, "p_value"].to_numpy(dtype=np.float64))
        for c in ("value", "ci_low", "ci_high", "gap", "p_value"):
            table.loc[~j, c] = np.nan
        table = table.sort_values(["judged", "n"], ascending=[False, False], kind="stable").reset_index(drop=True)
    judged = table[table["judged"]]
    summary: dict[str, Any] = {"min_group": min_group, "groups_judged": int(len(judged)),
                               "p_value": None if not np.isfinite(overall_p) else round(float(overall_p), 6),
                               "significant": [str(g) for g in judged.loc[judged["p_holm"] < ALPHA, "group"]]}
    if len(judged) >= 2:
        lo, hi = judged.loc[judged["value"].idxmin()], judged.loc[judged["value"].idxmax()]
        summary.update(lowest=str(lo["group"]), highest=str(hi["group"]), spread=round(float(hi["value"] - lo["value"]), 6))
        if kind == "rate":
            ratio = float(lo["value"] / hi["value"]) if hi["value"] > 0 else None
            summary["impact_ratio"] = None if ratio is None else round(ratio, 4)
            summary["four_fifths"] = None if ratio is None else bool(ratio >= FOUR_FIFTHS)
    out = GroupComparison(attribute, measure, kind, table, summary)
    out.sentence = _sentence(attribute, measure, kind, table, summary)
    return out


def compare_means(values: pd.Series, groups: pd.Series, *, attribute: str = "group", measure: str = "value",
                  min_group: int = MIN_GROUP) -> GroupComparison:
    """Mean of a per-customer measure by group, each judged group tested against all other customers.

    Args:
        values: one number per customer (index: customer id), e.g. each customer's nDCG@10.
        groups: the customers' group labels (index: customer id), e.g. a column of :func:`customer_groups`.
        min_group: groups with fewer customers are listed but not judged.
    """
    v, g = _aligned(values, groups)
    ok = np.isfinite(v)
    v, g = v[ok], g[ok]
    rows = []
    samples = []
    for label in pd.unique(g):
        mine = g == label
        x, rest = v[mine], v[~mine]
        judged = bool(len(x) >= min_group and label != UNKNOWN)
        mean = float(x.mean()) if len(x) else np.nan
        half = float(stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x))) if len(x) > 1 else np.nan
        p = np.nan
        if judged and len(rest) > 1:
            with warnings.catch_warnings():  # a group whose values are all alike is a fair input, not a precision problem
                warnings.simplefilter("ignore", RuntimeWarning)
                p = float(stats.ttest_ind(x, rest, equal_var=False).pvalue) if (x.std() > 0 or rest.std() > 0) else 1.0
            samples.append(x)
        rows.append({"group": str(label), "n": int(len(x)), "value": mean, "ci_low": mean - half, "ci_high": mean + half,
                     "gap": mean - float(rest.mean()) if len(rest) else np.nan, "p_value": p, "judged": judged})
    overall = np.nan
    if len(samples) >= 2 and np.ptp(np.concatenate(samples)) > 0:
        overall = float(stats.kruskal(*samples).pvalue)
    return _finish(attribute, measure, "mean", rows, min_group, overall)


def _wilson(k: int, n: int) -> tuple[float, float]:
    if n == 0:
        return np.nan, np.nan
    z = 1.959963984540054
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def compare_rates(selected: pd.Series, groups: pd.Series, *, attribute: str = "group", measure: str = "rate",
                  min_group: int = MIN_GROUP) -> GroupComparison:
    """Share of customers selected (True) by group, with the disparate-impact ratio.

    Args:
        selected: True/False per customer (index: customer id), e.g. "received the coupon".
        groups: the customers' group labels (index: customer id).
        min_group: groups with fewer customers are listed but not judged.
    """
    v, g = _aligned(selected.astype(bool).astype(float), groups)
    rows = []
    table = []
    for label in pd.unique(g):
        mine = g == label
        k, n = int(v[mine].sum()), int(mine.sum())
        kr, nr = int(v[~mine].sum()), int((~mine).sum())
        judged = bool(n >= min_group and label != UNKNOWN)
        p = np.nan
        if judged and nr:
            cont = np.array([[k, n - k], [kr, nr - kr]])
            if cont.sum(axis=0).min() == 0:
                p = 1.0
            elif cont.min() < 5:
                p = float(stats.fisher_exact(cont).pvalue)
            else:
                p = float(stats.chi2_contingency(cont, correction=False).pvalue)
            table.append([k, n - k])
        lo, hi = _wilson(k, n)
        rows.append({"group": str(label), "n": n, "value": k / n if n else np.nan, "ci_low": lo, "ci_high": hi,
                     "gap": (k / n - kr / nr) if n and nr else np.nan, "p_value": p, "judged": judged})
    overall = np.nan
    cont = np.array(table)
    if len(cont) >= 2 and cont.sum(axis=0).min() > 0:
        overall = float(stats.chi2_contingency(cont, correction=False).pvalue)
    return _finish(attribute, measure, "rate", rows, min_group, overall)


def auc_by_group(y: pd.Series, p: pd.Series, groups: pd.Series, *, attribute: str = "group", min_group: int = MIN_GROUP,
                 min_positives: int = 5) -> dict[str, Any]:
    """How well a scored outcome model ranks within each group: n, base rate, mean score and AUC (descriptive).

    AUC needs at least ``min_positives`` customers of each class in the group.

    Returns:
        ``{"attribute", "measure": "AUC", "groups": [...], "summary": {"auc_range"}, "sentence"}``.
    """
    from sklearn.metrics import roc_auc_score

    yv, g = _aligned(y.astype(float), groups)
    pv, _ = _aligned(p.reindex(y.index).astype(float), groups)
    rows = []
    for label in pd.unique(g):
        m = g == label
        n, pos = int(m.sum()), int(yv[m].sum())
        judged = bool(n >= min_group and label != UNKNOWN)
        row: dict[str, Any] = {"group": str(label), "n": n, "judged": judged}
        if judged:
            auc = float(roc_auc_score(yv[m], pv[m])) if min(pos, n - pos) >= min_positives else None
            row.update(base_rate=round(pos / n, 4), mean_score=round(float(pv[m].mean()), 4), auc=None if auc is None else round(auc, 4))
        rows.append(row)
    rows.sort(key=lambda r: (not r["judged"], -r["n"]))
    aucs = [(r["group"], r["auc"]) for r in rows if r["judged"] and r.get("auc") is not None]
    summary: dict[str, Any] = {"min_group": min_group, "auc_range": [min(a for _, a in aucs), max(a for _, a in aucs)] if len(aucs) >= 2 else None}
    if len(aucs) >= 2:
        sentence = f"AUC by {attribute}: " + ", ".join(f"{gr} {a:.3f}" for gr, a in aucs) + "."
    else:
        sentence = f"AUC by {attribute}: fewer than two groups have {min_group} or more customers with both outcomes."
    return {"attribute": attribute, "measure": "AUC", "groups": rows, "summary": summary, "sentence": sentence}
