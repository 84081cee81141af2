"""The audience table: one row per customer with every field a campaign can target, and its selection."""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from persona.campaigns.predicate import Predicate
from persona.campaigns.spec import CampaignSpec
from persona.errors import InputError

# Which command produces a field family, for error messages when it is missing.
PRODUCERS = {
    "churn_probability": "persona predict churn",
    "purchase_propensity": "persona predict propensity",
    "predicted_spend": "persona predict spend",
    "clv_12m": "persona predict clv",
    "p_alive": "persona predict clv",
    "recency_days": "persona profiles build",
    "frequency": "persona profiles build",
    "monetary": "persona profiles build",
}
BASE_FIELDS = ["customer_id", "gender", "birth_year", "city", "country", "timezone", "language", "created_at"]


def customer_frame(store: Any) -> pd.DataFrame:
    """Every targetable field per customer: attributes, profile features, predictions, segments.

    PII is never loaded here; erased customers are left out.
    """
    cust = store.read_frame(
        "SELECT customer_id, gender, birth_year, city, country, timezone, language, created_at, "
        "CASE WHEN email_enc IS NULL THEN 0 ELSE 1 END AS has_email FROM customers WHERE erased_at IS NULL"
    )
    cust["has_email"] = cust["has_email"].astype(bool)
    prof = store.read_frame("SELECT customer_id, features FROM profiles")
    if len(prof):
        feats = pd.DataFrame(
            [_flat(json.loads(f) if isinstance(f, str) else (f or {})) for f in prof["features"]], index=prof["customer_id"]
        )
        feats = feats.drop(columns=[c for c in feats.columns if c in cust.columns], errors="ignore")
        cust = cust.join(feats, on="customer_id")
    pred = store.read_frame("SELECT customer_id, name, value FROM predictions")
    if len(pred):
        wide = pred.pivot_table(index="customer_id", columns="name", values="value", aggfunc="last")
        wide = wide.drop(columns=[c for c in wide.columns if c in cust.columns], errors="ignore")
        cust = cust.join(wide, on="customer_id")
    seg = store.read_frame("SELECT customer_id, method, segment_id FROM segment_memberships")
    if len(seg):
        wide = seg.pivot_table(index="customer_id", columns="method", values="segment_id", aggfunc="last")
        wide.columns = [f"segment_{m}" for m in wide.columns]
        cust = cust.join(wide, on="customer_id")
    return cust.reset_index(drop=True)


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flat(v, key + "_"))
        elif isinstance(v, list):
            continue  # vectors (affinities, embeddings) are not targetable with comparisons
        else:
            out[key] = v
    return out


def segment_mask(frame: pd.DataFrame, refs: list[str]) -> pd.Series:
    """Rows in any of the segments ``method:segment_id`` (e.g. ``rfm:champions``)."""
    mask = pd.Series(False, index=frame.index)
    for ref in refs:
        method, _, seg = ref.partition(":")
        if not seg:
            raise InputError(f"segment reference {ref!r} must be METHOD:SEGMENT, e.g. rfm:champions")
        col = f"segment_{method}"
        if col not in frame.columns:
            raise InputError(
                f"no {method!r} segments exist yet (segment {ref!r})",
                hint=f"run `persona segments build --method {method}` first",
            )
        mask |= frame[col].astype(str) == seg
    return mask


def _defined_segments(method: str) -> frozenset[str]:
    """Segment ids a method can produce whether or not anyone is in them now (RFM's fixed names); empty if open-ended."""
    if method == "rfm":
        from persona.segments.rfm import RFM_NAMES

        return frozenset(RFM_NAMES)
    return frozenset()


def check_segments(frame: pd.DataFrame, refs: list[str]) -> None:
    """Raise for a segment reference that names no known segment, or a known one nobody is in yet.

    ``frame`` must be the whole audience table (:func:`customer_frame`): the segments with members are read from it.
    """
    for ref in refs:
        method, _, seg = ref.partition(":")
        segment_mask(frame, [ref])  # checks the method exists
        known = sorted(frame[f"segment_{method}"].dropna().astype(str).unique())
        if seg in known:
            continue
        if seg in _defined_segments(method):
            raise InputError(
                f"segment {ref!r} has no members yet",
                hint=f"run `persona segments build --method {method}` after new data, or target a segment with members: "
                f"{', '.join(known)}",
            )
        raise InputError(f"unknown segment {ref!r}", hint=f"known {method} segments: {', '.join(known)}")


def check_fields(frame: pd.DataFrame, text: str | None) -> None:
    """Validate a predicate's fields against the audience table, naming the command that adds a missing one, or the
    fields its name is close to (a typo)."""
    if not text:
        return
    pred = Predicate(text)
    missing = sorted(pred.fields - set(frame.columns))
    if missing:
        tips = sorted({PRODUCERS[m] for m in missing if m in PRODUCERS})
        if tips:
            hint = f"run {' and '.join(f'`{t}`' for t in tips)} first"
        else:
            close = {m: difflib.get_close_matches(m, [str(c) for c in frame.columns], n=3, cutoff=0.75) for m in missing}
            guesses = "; ".join(f"{m}: did you mean {' or '.join(c)}?" for m, c in close.items() if c)
            hint = guesses or f"the fields: {_field_names(frame)}"
        raise InputError(f"predicate {text!r} uses field(s) not available: {', '.join(missing)}", hint=hint)


def _field_names(frame: pd.DataFrame) -> str:
    """The audience table's fields, each family of per-category or per-brand shares named once (``category_shares_<category>``)."""
    names, families = [], set()
    for c in sorted(str(c) for c in frame.columns):
        family = next((f for f in ("category_shares", "brand_shares") if c.startswith(f + "_")), None)
        if family is None:
            names.append(c)
        elif family not in families:
            families.add(family)
            names.append(f"{family}_<{family.split('_')[0]}>")
    return ", ".join(names)


def audience_problems(frame: pd.DataFrame, spec: CampaignSpec) -> list[tuple[tuple[Any, ...], str]]:
    """Every unknown segment and every predicate field the audience table lacks, each with where it is in the spec
    (``("groups", 1, "when")``) and what is wrong: all of them at once, not only the first."""
    checks: list[tuple[tuple[Any, ...], Any, Any]] = []
    a = spec.audience
    checks += [(("audience", "segments"), check_segments, a.segments), (("audience", "where"), check_fields, a.where),
               (("audience", "exclude_segments"), check_segments, a.exclude_segments),
               (("audience", "exclude_where"), check_fields, a.exclude_where)]
    for i, g in enumerate(spec.groups):
        checks += [(("groups", i, "segments"), check_segments, g.segments), (("groups", i, "when"), check_fields, g.when)]
    out = []
    for loc, check, value in checks:
        if not value:
            continue
        try:
            check(frame, value)
        except InputError as exc:
            out.append((loc, str(exc)))
    return out


@dataclass
class Selection:
    """Who was selected, into which group, and who was excluded for what reason."""

    members: pd.DataFrame  # audience rows + column "group"
    excluded: dict[str, int] = field(default_factory=dict)


def select_audience(frame: pd.DataFrame, spec: CampaignSpec, *, only_customers: Any = None) -> Selection:
    """Apply the audience definition and assign each customer to the first matching group.

    Args:
        frame: the whole audience table (:func:`customer_frame`): segment references are checked against it.
        spec: the campaign.
        only_customers: restrict the selection to these customer ids (a triggered run, a preview); the segments are
            still checked against every customer, so a segment none of them is in is not reported as unknown.
    """
    a = spec.audience
    mask = pd.Series(True, index=frame.index)
    if only_customers is not None:
        mask &= frame["customer_id"].isin(set(only_customers))
    if a.segments:
        check_segments(frame, a.segments)
        mask &= segment_mask(frame, a.segments)
    if a.where:
        check_fields(frame, a.where)
        mask &= Predicate(a.where).evaluate(frame)
    excluded: dict[str, int] = {}
    if a.exclude_segments:
        check_segments(frame, a.exclude_segments)
        ex = segment_mask(frame, a.exclude_segments) & mask
        excluded["excluded_segment"] = int(ex.sum())
        mask &= ~ex
    if a.exclude_where:
        check_fields(frame, a.exclude_where)
        ex = Predicate(a.exclude_where).evaluate(frame) & mask
        excluded["excluded_predicate"] = int(ex.sum())
        mask &= ~ex
    if a.exclude_customers:
        ex = frame["customer_id"].isin(a.exclude_customers) & mask
        excluded["excluded_customer"] = int(ex.sum())
        mask &= ~ex
    chosen = frame[mask].copy()
    group = np.full(len(chosen), None, dtype=object)
    for g in spec.groups:
        gm = pd.Series(True, index=chosen.index)
        if g.segments:
            check_segments(frame, g.segments)
            gm &= segment_mask(chosen, g.segments)
        if g.when:
            check_fields(frame, g.when)
            gm &= Predicate(g.when).evaluate(chosen)
        free = pd.isna(group) & gm.to_numpy()
        group[free] = g.name
    chosen["group"] = group
    unmatched = int(pd.isna(group).sum())
    if unmatched:
        excluded["no_group"] = unmatched
    chosen = chosen[~pd.isna(group)]
    if a.limit is not None and len(chosen) > a.limit:
        excluded["over_limit"] = len(chosen) - a.limit
        chosen = chosen.sort_values("customer_id").head(a.limit)
    return Selection(members=chosen.reset_index(drop=True), excluded=excluded)


def describe_audience(spec: CampaignSpec) -> str:
    """The audience definition in a few words, for messages (``segments rfm:champions; where 'x > 1'``)."""
    a = spec.audience
    parts = []
    if a.segments:
        parts.append(f"segments {', '.join(a.segments)}")
    if a.where:
        parts.append(f"where {a.where!r}")
    if a.exclude_segments:
        parts.append(f"excluding segments {', '.join(a.exclude_segments)}")
    if a.exclude_where:
        parts.append(f"excluding where {a.exclude_where!r}")
    if a.exclude_customers:
        parts.append(f"excluding {len(a.exclude_customers)} listed customer(s)")
    conds = [f"{g.name}: {' and '.join(c for c in (', '.join(g.segments or []), g.when or '') if c)}"
             for g in spec.groups if g.segments or g.when]
    if conds and len(conds) == len(spec.groups):  # with a catch-all group nobody is left out by the groups
        parts.append(f"groups {'; '.join(conds)}")
    return "; ".join(parts) or "every customer"


#: why :func:`select_audience` left a customer out, by its ``excluded`` key
EXCLUSION_REASONS = {
    "excluded_segment": "in an excluded segment",
    "excluded_predicate": "matches exclude_where",
    "excluded_customer": "listed in exclude_customers",
    "no_group": "matches no group",
    "over_limit": "over the audience limit",
}
