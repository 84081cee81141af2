"""Cold start: scores for users with no history, from segment, demographics, declared interests and trends."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from persona.data import Interactions
from persona.recommend.rules import category_matches, item_categories

log = logging.getLogger(__name__)

SEGMENT_COLUMN = "segment"
INTERESTS_COLUMN = "interests"
# Columns of the users frame that are never used as demographics (ids, free text, PII-like).
IGNORED_USER_COLUMNS = {
    INTERESTS_COLUMN,
    "customer_key",
    "email_hash",
    "created_at",
    "erased_at",
    "zip_code",
    "zip",
}

# How much each signal counts in a cold user's score; missing signals are left out and the rest renormalised.
SIGNAL_WEIGHTS = {"segment": 0.45, "demographics": 0.35, "trending": 0.20}
INTEREST_BOOST = (
    2.0  # added to items in a declared category; other signals lie in [0, 1], so interests come first
)

ReasonFn = Callable[[int], str]


def trending_scores(data: Interactions, half_life_days: float | None) -> np.ndarray:
    """Per-item popularity, each event decayed by its age (half-life in days) when timestamps exist."""
    logdf = data.log
    if len(logdf) == 0:
        return np.zeros(data.n_items, dtype=np.float64)
    w = np.ones(len(logdf))
    if half_life_days and data.has_time:
        t = logdf["time"].to_numpy(dtype=np.float64)
        tmax = np.nanmax(t)
        age_days = np.where(np.isnan(t), np.inf, (tmax - t) / 86400.0)
        w = np.power(0.5, age_days / float(half_life_days))
    return np.bincount(logdf["item_idx"].to_numpy(), weights=w, minlength=data.n_items)


def _scale(v: np.ndarray) -> np.ndarray:
    m = float(v.max()) if len(v) else 0.0
    return (v / m).astype(np.float32) if m > 0 else np.zeros_like(v, dtype=np.float32)


def user_attribute_codes(users: pd.DataFrame, max_values: int = 50) -> dict[str, tuple[pd.Series, Any]]:
    """Categorical codes of each usable user column: low-cardinality text, or numbers binned in quintiles.

    Returns:
        ``{column: (codes Series aligned to users, binner)}``; binner is the category list or the bin edges.
    """
    out: dict[str, tuple[pd.Series, Any]] = {}
    for col in users.columns:
        if col in IGNORED_USER_COLUMNS or str(col).endswith("_enc"):
            continue
        s = users[col]
        if s.notna().sum() == 0:
            continue
        if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s) and s.nunique() > 10:
            edges = np.unique(np.nanquantile(s.to_numpy(dtype=np.float64), [0.2, 0.4, 0.6, 0.8]))
            codes = pd.Series(
                np.where(s.isna(), -1, np.searchsorted(edges, s.to_numpy(), side="right")), index=s.index
            )
            out[col] = (codes, ("bins", edges))
        else:
            if s.map(lambda v: isinstance(v, list | dict | set | tuple)).any():
                continue
            text = s.astype(str).where(s.notna())
            cats = [c for c in text.value_counts().index[:max_values]]
            lookup = {c: i for i, c in enumerate(cats)}
            codes = text.map(lookup).fillna(-1).astype(np.int64)
            out[col] = (codes, ("cats", lookup))
    return out


def _encode(binner: Any, value: Any) -> int:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return -1
    kind, spec = binner
    if kind == "bins":
        try:
            return int(np.searchsorted(spec, float(value), side="right"))
        except (TypeError, ValueError):
            return -1
    return int(spec.get(str(value), -1))


class ColdStart:
    """Scores for users without history; fitted on the same :class:`Interactions` as the recommender.

    Signals: popularity in the user's segment (``users.segment``), popularity among users who share each
    demographic attribute (other ``users`` columns), declared interests (``users.interests``: categories,
    boosted first), and recency-decayed trending items as the fallback.
    """

    def __init__(self, half_life_days: float = 14.0, min_group_size: int = 5) -> None:
        self.half_life_days = half_life_days
        self.min_group_size = min_group_size

    def fit(self, data: Interactions) -> ColdStart:
        """Learn trending items and per-group popularity."""
        self.trending_ = _scale(trending_scores(data, self.half_life_days))
        self.popular_ = _scale(data.item_popularity().astype(np.float64))
        self.categories_ = np.array(item_categories(data), dtype=object)
        self.labels_ = data.item_ids
        binary = data.matrix.copy()
        binary.data = np.ones_like(binary.data)
        self.groups_: dict[str, tuple[Any, dict[int, np.ndarray]]] = {}
        attrs = user_attribute_codes(data.users)
        for col, (codes, binner) in attrs.items():
            c = codes.to_numpy()
            valid = c >= 0
            if not valid.any():
                continue
            n_groups = int(c[valid].max()) + 1
            onehot = sp.csr_matrix(
                (np.ones(valid.sum(), dtype=np.float32), (c[valid], np.flatnonzero(valid))),
                shape=(n_groups, data.n_users),
            )
            sizes = np.asarray(onehot.sum(axis=1)).ravel()
            counts = (onehot @ binary).toarray()
            per = {
                g: _scale(counts[g])
                for g in range(n_groups)
                if sizes[g] >= self.min_group_size and counts[g].any()
            }
            if per:
                self.groups_[col] = (binner, per)
        self.users_ = data.users
        return self

    def _features(self, user_ids: list[Any], user_idx: np.ndarray, extra: pd.DataFrame | None) -> list[dict]:
        feats: list[dict] = []
        for uid, ui in zip(user_ids, user_idx, strict=True):
            f: dict[str, Any] = {}
            if ui >= 0 and len(self.users_.columns):
                f.update({k: v for k, v in self.users_.iloc[int(ui)].items() if _present(v)})
            if extra is not None and uid in extra.index:
                row = extra.loc[uid]
                if isinstance(row, pd.DataFrame):
                    row = row.iloc[-1]
                f.update({k: v for k, v in row.items() if _present(v)})
            feats.append(f)
        return feats

    def score(
        self, user_ids: list[Any], user_idx: np.ndarray, user_features: pd.DataFrame | Mapping | None = None
    ) -> tuple[np.ndarray, list[ReasonFn]]:
        """Dense scores (users × items) and, per user, a function giving the reason for an item.

        Args:
            user_ids: the ids (used to look up ``user_features``).
            user_idx: their rows in the training vocabulary (-1 for unknown users).
            user_features: optional side data for users the model has not seen, indexed by user id.
        """
        extra = None
        if user_features is not None:
            extra = (
                user_features
                if isinstance(user_features, pd.DataFrame)
                else pd.DataFrame.from_dict(dict(user_features), orient="index")
            )
        feats = self._features(user_ids, user_idx, extra)
        n_items = len(self.trending_)
        out = np.empty((len(feats), n_items), dtype=np.float32)
        reasons: list[ReasonFn] = []
        for r, f in enumerate(feats):
            parts: dict[str, np.ndarray] = {"trending": self.trending_}
            seg_vec = self._group_vector(SEGMENT_COLUMN, f.get(SEGMENT_COLUMN))
            if seg_vec is not None:
                parts["segment"] = seg_vec
            demo = [
                v
                for col in self.groups_
                if col != SEGMENT_COLUMN and col in f
                for v in [self._group_vector(col, f[col])]
                if v is not None
            ]
            if demo:
                parts["demographics"] = np.mean(demo, axis=0)
            total = sum(SIGNAL_WEIGHTS[p] for p in parts)
            contrib = {p: (SIGNAL_WEIGHTS[p] / total) * v for p, v in parts.items()}
            s = np.sum(list(contrib.values()), axis=0)
            interests = _as_interests(f.get(INTERESTS_COLUMN))
            interest_mask = None
            if interests:
                interest_mask = np.array(
                    [category_matches(c, interests) for c in self.categories_], dtype=bool
                )
                s = s + INTEREST_BOOST * interest_mask
            out[r] = s
            reasons.append(_reason_fn(contrib, interest_mask, self.categories_, f.get(SEGMENT_COLUMN)))
        return out, reasons

    def _group_vector(self, col: str, value: Any) -> np.ndarray | None:
        if col not in self.groups_ or not _present(value):
            return None
        binner, per = self.groups_[col]
        return per.get(_encode(binner, value))


def _present(v: Any) -> bool:
    if v is None:
        return False
    if isinstance(v, list | tuple | set | np.ndarray):
        return len(v) > 0
    try:
        return not pd.isna(v)
    except (TypeError, ValueError):
        return True


def _as_interests(v: Any) -> set[str]:
    if v is None:
        return set()
    if isinstance(v, str):
        v = [s for s in v.replace(";", ",").split(",")]
    if isinstance(v, list | tuple | set | np.ndarray):
        return {str(s).strip().lower() for s in v if str(s).strip()}
    return set()


def _reason_fn(
    contrib: dict[str, np.ndarray], interest_mask: np.ndarray | None, categories: np.ndarray, segment: Any
) -> ReasonFn:
    def reason(item: int) -> str:
        if interest_mask is not None and interest_mask[item]:
            return f"matches your interest in {categories[item]}"
        best = max(contrib, key=lambda p: contrib[p][item])
        if best == "segment":
            return "popular in your segment" + (f" ({segment})" if _present(segment) else "")
        if best == "demographics":
            return "popular with customers like you"
        return "trending now"

    return reason


def new_customer_features(store: Any, model: Any, customer_ids: Sequence[Any]) -> pd.DataFrame | None:
    """Stored side data (segment, demographics, declared interests) of the ``customer_ids`` that ``model`` has no
    history for, indexed by customer id: what ``recommend(user_features=...)`` takes. Customers added since
    training get cold start from what is known of them rather than trends alone, and customers known without
    history get it from their current side data (segments built after the model, say). None when every one of
    them has a history in the model (or none of the others is stored)."""
    from persona.data.interactions import read_customers

    data = getattr(model, "data_", None)
    ids = [str(c) for c in customer_ids]
    if data is None or not ids:
        return None
    n_hist = np.diff(data.matrix.indptr)
    new = [c for c, i in zip(ids, data.user_index(ids), strict=True) if i < 0 or n_hist[i] == 0]
    if not new:
        return None
    found = read_customers(store, customer_ids=new)
    return found.set_index("customer_id") if len(found) else None
