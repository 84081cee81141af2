"""Fairness audit: do recommendations, predictions and campaigns treat customer groups alike?

Three questions, each asked per attribute (gender, age band, country…):

- **recommendations**: is the served model as accurate for every group (each customer's nDCG@10 and
  recall@10 on held-out events), and does it push some groups towards best-sellers more than others
  (the mean popularity percentile of what it recommends to them)?
- **predictions**: does an outcome model (churn, purchase propensity) rank each group as well (AUC), is it
  calibrated per group, and does its top decile catch each group's true cases alike (equal opportunity)?
- **campaigns**: is each group as likely to be in a campaign's audience, to be contacted, and to be offered a
  discount (selection rates and the four-fifths rule)?

Each answer is a table and a sentence; see :mod:`persona.fairness.measures` for the statistics.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from persona.errors import InputError
from persona.fairness.measures import MIN_GROUP, GroupComparison, auc_by_group, compare_means, compare_rates

#: message statuses that mean the customer was (or is being) contacted
CONTACTED = ("planned", "sending", "sent", "failed")


@dataclass
class FairnessReport:
    """Every comparison of one audit, by part (``recommendations``, ``predictions``, ``campaigns``)."""

    attributes: list[str]
    min_group: int = MIN_GROUP
    parts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def add(self, part: str, item: GroupComparison | dict[str, Any], **context: Any) -> None:
        d = item.to_dict() if isinstance(item, GroupComparison) else dict(item)
        self.parts.setdefault(part, []).append({**context, **d})

    @property
    def findings(self) -> list[str]:
        """The sentences of comparisons that found a significant gap (Holm-corrected, see :mod:`.measures`)."""
        out = []
        for items in self.parts.values():
            for it in items:
                if it.get("summary", {}).get("significant"):
                    out.append(_prefixed(it))
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"attributes": self.attributes, "min_group": self.min_group, "findings": self.findings, **self.parts}

    def html(self) -> str:
        """The report as HTML: findings first, then every comparison with its table."""
        out = [f"<p>Groups by {html.escape(', '.join(self.attributes))}. A group is judged when it has at least "
               f"{self.min_group} customers and a known value; each is tested against all other customers "
               "(p-values Holm-corrected per attribute).</p>"]
        found = self.findings
        out.append("<p><b>" + ("Significant gaps:" if found else "No significant gap between groups.") + "</b></p>")
        if found:
            out.append("<ul>" + "".join(f"<li>{html.escape(f)}</li>" for f in found) + "</ul>")
        for part, items in self.parts.items():
            out.append(f"<h3>{html.escape(part.capitalize())}</h3>")
            for it in items:
                out.append(f"<p>{html.escape(_prefixed(it))}</p>")
                rows = it.get("groups", [])
                if rows:
                    cols = [c for c in rows[0] if c != "judged"]
                    out.append("<table><tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in cols) + "</tr>"
                               + "".join("<tr>" + "".join(f"<td>{'' if r.get(c) is None else html.escape(str(r.get(c)))}</td>"
                                                          for c in cols) + "</tr>" for r in rows) + "</table>")
        return "".join(out)


def _prefixed(item: dict[str, Any]) -> str:
    where = " ".join(str(item[k]) for k in ("model", "campaign") if item.get(k))
    return f"{where}: {item['sentence']}" if where else item["sentence"]


def recommendation_fairness(
    per_user: pd.DataFrame,
    groups: pd.DataFrame,
    *,
    metrics: tuple[str, ...] = ("ndcg@10", "recall@10"),
    min_group: int = MIN_GROUP,
) -> list[GroupComparison]:
    """Each attribute × metric: the per-customer accuracy of held-out recommendations by group.

    Args:
        per_user: one row per evaluated customer (index: customer id), one column per metric, as
            :func:`persona.evaluate.offline.evaluate_recommender` keeps with ``per_user=True``.
        groups: :func:`persona.fairness.groups.customer_groups` of the customers.
    """
    out = []
    for attr in groups.columns:
        for m in metrics:
            if m in per_user:
                out.append(compare_means(per_user[m], groups[attr], attribute=attr, measure=m, min_group=min_group))
    return out


def popularity_percentile(interaction_counts: pd.Series) -> pd.Series:
    """Each item's popularity as a percentile in [0, 1] of the catalogue (1: the best-seller)."""
    return interaction_counts.rank(pct=True, method="average")


def exposure_fairness(recs: pd.DataFrame, popularity: pd.Series, groups: pd.DataFrame, *, min_group: int = MIN_GROUP) -> list[GroupComparison]:
    """Each attribute: the mean popularity percentile of the items recommended to a group's customers.

    A group that gets best-sellers while another gets its own taste is a popularity bias that accuracy alone
    does not show.

    Args:
        recs: ``user_id, item_id`` rows (top-k lists).
        popularity: item id → popularity percentile (:func:`popularity_percentile`).
    """
    if not len(recs):
        return []
    pct = recs["item_id"].map(popularity).astype(float)
    per_user = pct.groupby(recs["user_id"].to_numpy()).mean()
    return [compare_means(per_user, groups[attr], attribute=attr, measure="popularity of recommended items",
                         min_group=min_group) for attr in groups.columns]


def prediction_fairness(scores: pd.DataFrame, groups: pd.DataFrame, *, top_share: float = 0.1,
                        min_group: int = MIN_GROUP) -> list[GroupComparison | dict[str, Any]]:
    """Each attribute: an outcome model's backtest (``customer_id, y, p``) by group.

    Three views: how many of a group's true cases the model's overall top ``top_share`` catches (equal
    opportunity: a campaign aimed at that top share reaches them), the mean score minus the observed rate
    (calibration per group: a model that over-predicts for a group sends it more offers), and the AUC within
    each group (descriptive).

    Raises:
        InputError: ``top_share`` outside (0, 1).
    """
    if not 0.0 < float(top_share) < 1.0:
        raise InputError(f"top_share must lie in (0, 1), got {top_share!r}")
    s = scores.drop_duplicates("customer_id", keep="last").set_index("customer_id")
    y, p = s["y"].astype(int), s["p"].astype(float)
    top = p >= (float(np.quantile(p, 1 - top_share)) if len(p) else np.inf)
    out: list[GroupComparison | dict[str, Any]] = []
    for attr in groups.columns:
        out.append(compare_rates(top[y == 1], groups[attr], attribute=attr, min_group=min_group,
                                 measure=f"true cases caught by the top {top_share:.0%} of scores"))
        out.append(compare_means(p - y, groups[attr], attribute=attr, min_group=min_group,
                                 measure="mean score minus observed outcome"))
        out.append(auc_by_group(y, p, groups[attr], attribute=attr, min_group=min_group))
    return out


def campaign_selection(store: Any, campaign: str, customers: pd.Index) -> pd.DataFrame | None:
    """Per customer, for the latest run of ``campaign``: in the audience, contacted, offered a discount.

    Returns:
        Frame indexed by customer id (every customer in ``customers``) with boolean ``audience``, ``holdout``
        (kept out by an experiment or the global holdout, at random), ``contacted``, ``discount`` and the offered
        ``discount_pct`` (NaN when none); None without a run.
    """
    runs = store.read_frame("SELECT id FROM campaign_runs WHERE campaign = :c ORDER BY planned_at DESC, id DESC", {"c": campaign})
    if not len(runs):
        return None
    rows = store.read_frame("SELECT customer_id, status, payload FROM messages WHERE run_id = :r", {"r": int(runs["id"].iloc[0])})
    if not len(rows):
        return None
    rows["contacted"] = rows["status"].isin(CONTACTED)
    rows["holdout"] = rows["status"] == "holdout"
    rows["discount_pct"] = [_discount(p) if c else np.nan for p, c in zip(rows["payload"], rows["contacted"], strict=True)]
    per = rows.groupby("customer_id").agg(contacted=("contacted", "any"), holdout=("holdout", "all"), discount_pct=("discount_pct", "max"))
    out = pd.DataFrame(index=customers)
    out["audience"] = out.index.isin(per.index)
    out["holdout"] = per["holdout"].reindex(out.index, fill_value=False).astype(bool)
    out["contacted"] = per["contacted"].reindex(out.index, fill_value=False).astype(bool)
    out["discount_pct"] = per["discount_pct"].reindex(out.index)
    out["discount"] = out["discount_pct"].fillna(0) > 0
    return out


def _discount(payload: Any) -> float:
    import json

    if isinstance(payload, str):
        try:
            payload = json.loads(payload)
        except ValueError:
            return np.nan
    offer = (payload or {}).get("offer") or {}
    v = offer.get("discount_pct")
    return float(v) if isinstance(v, int | float) else np.nan


def campaign_fairness(selection: pd.DataFrame, groups: pd.DataFrame, *, min_group: int = MIN_GROUP) -> list[GroupComparison]:
    """Each attribute: who is in the audience (of all customers), who is contacted and who is offered a
    discount (of the audience outside the random holdouts); see :func:`campaign_selection`."""
    out = []
    aud = selection[selection["audience"] & ~selection["holdout"]]
    for attr in groups.columns:
        g = groups[attr]
        out.append(compare_rates(selection["audience"], g, attribute=attr, measure="in the audience", min_group=min_group))
        if len(aud) and aud["contacted"].nunique() > 1:
            out.append(compare_rates(aud["contacted"], g, attribute=attr, measure="contacted (of the audience outside holdouts)", min_group=min_group))
        if len(aud) and aud["discount"].any():
            out.append(compare_rates(aud["discount"], g, attribute=attr, measure="offered a discount (of the audience outside holdouts)",
                                     min_group=min_group))
    return out
