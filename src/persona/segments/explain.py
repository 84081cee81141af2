"""Segments explained in words: surrogate-tree rules, distinguishing features, size and revenue share."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.tree import DecisionTreeClassifier

# feature: (label, phrase when higher, phrase when lower); {r} is the ratio to the population mean.
PHRASES: dict[str, tuple[str, str, str]] = {
    "frequency": ("orders", "buy {r}× more often than average", "buy {r}× less often than average"),
    "monetary": ("total spend", "spend {r}× more than average", "spend {r}× less than average"),
    "avg_order_value": ("average order value", "spend {r}× more per order than average", "spend {r}× less per order than average"),
    "recency_days": ("days since last purchase", "last bought {r}× longer ago than average", "bought {r}× more recently than average"),
    "tenure_days": ("tenure (days)", "have been customers {r}× longer than average", "are {r}× newer customers than average"),
    "mean_interpurchase_days": ("days between orders", "wait {r}× longer between orders", "reorder {r}× faster than average"),
    "discount_share": ("share of discounted purchases", "buy on discount {r}× more than average", "buy on discount {r}× less than average"),
    "price_index": ("price paid vs category median", "pay {r}× higher prices than average", "pay {r}× lower prices than average"),
    "n_categories": ("categories bought", "shop {r}× more categories than average", "shop {r}× fewer categories than average"),
    "n_views": ("product views", "browse {r}× more than average", "browse {r}× less than average"),
    "email_open_rate": ("e-mail open rate", "open {r}× more e-mails than average", "open {r}× fewer e-mails than average"),
    "email_click_rate": ("e-mail click rate", "click {r}× more e-mails than average", "click {r}× fewer e-mails than average"),
    "avg_sentiment": ("review sentiment", "review more positively than average", "review more negatively than average"),
    "age": ("age", "are older than average", "are younger than average"),
}
# Short adjectives used to name clusters after their two most distinctive features.
ADJECTIVES: dict[str, tuple[str, str]] = {
    "frequency": ("frequent", "occasional"),
    "monetary": ("high-spending", "low-spending"),
    "avg_order_value": ("big-basket", "small-basket"),
    "recency_days": ("lapsed", "recent"),
    "tenure_days": ("long-standing", "new"),
    "mean_interpurchase_days": ("slow-reordering", "fast-reordering"),
    "discount_share": ("deal-seeking", "full-price"),
    "price_index": ("premium", "budget"),
    "n_categories": ("broad", "focused"),
    "n_views": ("browsing", "quiet"),
    "email_open_rate": ("e-mail-engaged", "e-mail-averse"),
    "email_click_rate": ("clicking", "non-clicking"),
    "avg_sentiment": ("happy", "critical"),
    "age": ("older", "younger"),
}


def _higher(seg: float, pop: float, d: float) -> bool:
    """Whether the segment is above the population on a feature, as the means shown beside the phrase say.

    The effect size ``d`` is measured on the logged feature, whose mean can lie on the other side from the plain one (a
    segment of modest spenders among many who never bought: above the typical customer, below the mean that a few big
    spenders lift), so the phrase and the name follow the plain means and ``d`` only where those are equal."""
    return seg > pop if seg != pop else d > 0


def _phrase(feature: str, seg: float, pop: float, d: float) -> str:
    label, up, down = PHRASES.get(feature, (feature, f"{feature} higher than average", f"{feature} lower than average"))
    higher = _higher(seg, pop, d)
    if seg > 0 and pop > 0 and "{r}" in (up if higher else down):
        r = seg / pop if higher else pop / seg
        return (up if higher else down).format(r=f"{r:.1f}") + f" ({label} {seg:,.3g} vs {pop:,.3g})"
    text = up if higher else down
    return text.replace("{r}× ", "").replace("{r}×", "") + f" ({label} {seg:,.3g} vs {pop:,.3g})"


def distinguishing(raw: pd.DataFrame, logged: pd.DataFrame, labels: pd.Series, top: int = 3) -> dict[str, list[dict[str, Any]]]:
    """Per segment, the features whose segment mean differs most from the population (in std units).

    Args:
        raw: filled features in natural units (for the phrasing).
        logged: the same features in the clustering space (skewed ones logged), for the effect size.
        labels: segment id per row.
    """
    std = logged.std(ddof=0).replace(0, np.nan)
    pop_mean_l, pop_mean_r = logged.mean(), raw.mean()
    seg_l = logged.groupby(labels.to_numpy()).mean()
    seg_r = raw.groupby(labels.to_numpy()).mean()
    out: dict[str, list[dict[str, Any]]] = {}
    for sid in seg_l.index:
        d = ((seg_l.loc[sid] - pop_mean_l) / std).dropna()
        best = d.abs().sort_values(ascending=False).index[:top]
        out[str(sid)] = [
            {
                "feature": f,
                "effect_size": round(float(d[f]), 3),
                "segment_mean": round(float(seg_r.at[sid, f]), 4),
                "population_mean": round(float(pop_mean_r[f]), 4),
                "higher": _higher(float(seg_r.at[sid, f]), float(pop_mean_r[f]), float(d[f])),
                "text": _phrase(f, float(seg_r.at[sid, f]), float(pop_mean_r[f]), float(d[f])),
            }
            for f in best
        ]
    return out


def describe_name(features: list[dict[str, Any]]) -> str:
    """A short name from the two most distinctive features, e.g. "frequent, high-spending"."""
    words = []
    for f in features[:2]:
        adj = ADJECTIVES.get(f["feature"])
        if adj:
            words.append(adj[0] if f.get("higher", f["effect_size"] > 0) else adj[1])
    return ", ".join(words) if words else "average"


def _path_rules(tree: DecisionTreeClassifier, names: list[str]) -> dict[int, list[str]]:
    """The conditions on the path from the root to every leaf (by node id)."""
    t = tree.tree_
    out: dict[int, list[str]] = {}

    def walk(node: int, conds: list[str]) -> None:
        if t.children_left[node] == t.children_right[node]:
            out[node] = conds
            return
        f, thr = names[t.feature[node]], float(t.threshold[node])
        walk(t.children_left[node], [*conds, f"{f} <= {thr:,.4g}"])
        walk(t.children_right[node], [*conds, f"{f} > {thr:,.4g}"])

    walk(0, [])
    return out


def surrogate_rules(raw: pd.DataFrame, labels: pd.Series, *, max_depth: int = 3, sample: int = 20_000, seed: int = 42) -> dict[str, dict[str, Any]]:
    """Per segment, a depth-``max_depth`` one-vs-rest decision tree's best rule, as text.

    The rule is the leaf path with the most segment members among leaves where members are the majority
    (else the purest leaf); reported with its precision (share of covered customers in the segment) and
    recall (share of the segment it covers), and the tree's accuracy as a surrogate.
    """
    rng = np.random.default_rng(seed)
    idx = np.arange(len(raw)) if len(raw) <= sample else np.sort(rng.choice(len(raw), sample, replace=False))
    x, y = raw.iloc[idx], labels.iloc[idx].to_numpy()
    names = list(raw.columns)
    out: dict[str, dict[str, Any]] = {}
    for sid in pd.unique(y):
        target = (y == sid).astype(int)
        tree = DecisionTreeClassifier(max_depth=max_depth, random_state=seed, class_weight="balanced" if target.mean() < 0.05 else None)
        tree.fit(x.to_numpy(), target)
        paths = _path_rules(tree, names)
        # Leaf fractions are class-weighted when balanced: recount from the data for honest figures.
        leaf = tree.apply(x.to_numpy())
        leaves = np.unique(leaf)
        stats = {lf: (int((leaf == lf).sum()), int(target[leaf == lf].sum())) for lf in leaves}
        ordered = sorted(stats.items(), key=lambda kv: (kv[1][1] / kv[1][0] >= 0.5, kv[1][1], kv[1][1] / kv[1][0]), reverse=True)
        lf, (n_cov, n_pos) = ordered[0]
        conds = paths[int(lf)]
        acc = float((tree.predict(x.to_numpy()) == target).mean())
        out[str(sid)] = {
            "rule": " and ".join(conds) if conds else "(everyone)",
            "precision": round(n_pos / max(n_cov, 1), 3),
            "recall": round(n_pos / max(int(target.sum()), 1), 3),
            "tree_accuracy": round(acc, 3),
        }
    return out


def explain_segments(
    raw: pd.DataFrame, logged: pd.DataFrame, labels: pd.Series, revenue: pd.Series, names: dict[str, str] | None = None, *, seed: int = 42
) -> dict[str, dict[str, Any]]:
    """Everything the report and ``persona segments show`` say about each segment.

    Returns:
        ``{segment_id: {name, size, share, revenue_share, distinguishing: [...], rule: {...}, summary}}``.
    """
    labels = labels.astype(str)
    n = len(labels)
    sizes = labels.value_counts()
    rev = pd.to_numeric(revenue, errors="coerce").fillna(0.0).to_numpy()
    rev_by = pd.Series(rev).groupby(labels.to_numpy()).sum()
    total = float(rev.sum()) or 1.0
    dist = distinguishing(raw, logged, labels)
    rules = surrogate_rules(raw, labels, seed=seed)
    out = {}
    for sid in sizes.index:
        feats = dist.get(sid, [])
        name = (names or {}).get(sid) or describe_name(feats)
        share, rshare = sizes[sid] / n, float(rev_by.get(sid, 0.0)) / total
        lines = "; ".join(f["text"] for f in feats[:2])
        out[sid] = {
            "name": name,
            "size": int(sizes[sid]),
            "share": round(float(share), 4),
            "revenue_share": round(rshare, 4),
            "distinguishing": feats,
            "rule": rules.get(sid, {}),
            "summary": f"{name}: {sizes[sid]:,} customers ({share:.1%}), {rshare:.1%} of revenue. They {lines}.",
        }
    return out
