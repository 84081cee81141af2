"""Point-in-time training data for customer predictions, and the time-based backtest plan.

Features are computed as of a cutoff t from events up to t only; labels come from (t, t + horizon].
Training cutoffs are chosen so that their label windows end no later than the test cutoff, so a
backtest never trains on anything that happened after the moment it is tested at.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from persona.errors import InputError
from persona.profiles.features import DAY, NUMERIC_FEATURES
from persona.profiles.source import PURCHASE_TYPES, ShopData

log = logging.getLogger(__name__)
MIN_HISTORY_DAYS = 30


def top_level(category: pd.Series) -> pd.Series:
    """The top level of a category path ("Home > Kitchen" → "Home")."""
    return category.astype("string").str.split(">").str[0].str.strip()


def ranked_names(counts: pd.Series) -> list[str]:
    """The names of ``counts`` from the largest count down, ties by name (so every engine and row order agrees)."""
    return [str(c) for c in counts.sort_index().sort_values(ascending=False, kind="stable").index]


@dataclass(frozen=True)
class BacktestPlan:
    """Cutoffs of one backtest: train on ``train``, test on ``test``; the final model uses ``final``."""

    horizon_days: int
    train: tuple[pd.Timestamp, ...]
    test: pd.Timestamp
    final: tuple[pd.Timestamp, ...]
    as_of: pd.Timestamp

    @property
    def cutoffs(self) -> tuple[pd.Timestamp, ...]:
        """Every cutoff whose features the plan's models read (training, test, final and scoring), oldest first."""
        return tuple(sorted({*self.train, self.test, *self.final, self.as_of}))

    @property
    def label_windows(self) -> tuple[tuple[pd.Timestamp, pd.Timestamp], ...]:
        """The (cutoff, cutoff + horizon] windows of the plan's labels, oldest first."""
        h = pd.Timedelta(days=self.horizon_days)
        return tuple((t, t + h) for t in sorted({*self.train, self.test, *self.final}))

    def describe(self) -> dict[str, object]:
        """Dates as ISO strings (for reports and ``--json``)."""
        iso = lambda t: t.isoformat()  # noqa: E731
        return {"horizon_days": self.horizon_days, "train_cutoffs": [iso(t) for t in self.train], "test_cutoff": iso(self.test),
                "final_cutoffs": [iso(t) for t in self.final], "as_of": iso(self.as_of)}


def plan_backtest(data: ShopData, horizon_days: int, *, n_train: int = 3, step_days: int = 30, as_of: pd.Timestamp | None = None) -> BacktestPlan:
    """Cutoffs for a backtest at ``as_of - horizon`` trained on earlier, non-overlapping-in-future cutoffs.

    Raises:
        InputError: a bad horizon, or too little history for even one training cutoff.
    """
    if not isinstance(horizon_days, int | np.integer) or isinstance(horizon_days, bool) or not 1 <= horizon_days <= 3650:
        raise InputError(f"horizon must be a whole number of days from 1 to 3650, got {horizon_days!r}")
    if as_of is None:
        as_of = data.last_event_ts
    if as_of is None:
        raise InputError("no events, so there is nothing to learn from", hint="ingest events first")
    first = data.first_event_ts
    h, step = pd.Timedelta(days=int(horizon_days)), pd.Timedelta(days=step_days)
    test = as_of - h
    earliest = first + pd.Timedelta(days=MIN_HISTORY_DAYS)
    train = tuple(t for t in (test - h - j * step for j in range(n_train)) if t >= earliest)
    final = tuple(t for t in (test - j * step for j in range(n_train)) if t >= earliest)
    if not train:
        span = math.floor((as_of - first) / DAY * 10) / 10  # floored, so 89.96 days never reads as "90.0"
        need = 2 * horizon_days + MIN_HISTORY_DAYS
        raise InputError(
            f"{span:.1f} days of events are too few for a {horizon_days}-day backtest (needs at least {need})",
            hint="use a shorter --horizon-days or ingest more history",
        )
    return BacktestPlan(int(horizon_days), train[::-1], test, final[::-1], as_of)


class FeatureCache:
    """Point-in-time features per cutoff, computed once per run and shared by every model."""

    def __init__(self, data: ShopData) -> None:
        self.data = data
        self._cache: dict[pd.Timestamp, pd.DataFrame] = {}
        self._matrices: dict[tuple[Any, ...], pd.DataFrame] = {}

    def at(self, t: pd.Timestamp) -> pd.DataFrame:
        """Features of everyone known at ``t``."""
        if t not in self._cache:
            self._cache[t] = self.data.features(t)  # the shop's engine computes them (Spark for a SparkShop)
        return self._cache[t]

    def warm(self, plans: Iterable[BacktestPlan]) -> None:
        """Compute what the plans' backtests read and is not cached yet, the features of every cutoff and the
        purchases of every label window: on Spark in one pass for all cutoffs and one for all windows (the local
        engine computes each when first asked)."""
        if self.data.engine != "spark":
            return
        from persona.engines.spark.features import spark_features_at
        from persona.engines.spark.predict import purchases_per_window

        plans = list(plans)
        todo = sorted({t for p in plans for t in p.cutoffs} - self._cache.keys())
        if todo:
            self._cache.update(zip(todo, spark_features_at(self.data, todo), strict=True))
        windows = _window_cache(self.data)
        todo_windows = sorted({w for p in plans for w in p.label_windows} - windows.keys())
        if todo_windows:
            windows.update(zip(todo_windows, purchases_per_window(self.data, todo_windows), strict=True))

    def matrix(self, t: pd.Timestamp, matrix: ModelMatrix) -> pd.DataFrame:
        """The model matrix of everyone known at ``t`` (cached per cutoff and column set)."""
        key = (t, tuple(matrix.columns_))
        if key not in self._matrices:
            self._matrices[key] = matrix.transform(self.at(t))
        return self._matrices[key]


def _purchases(data: ShopData) -> pd.DataFrame:
    """All purchase lines with their top-level category (computed once per shop object)."""
    cached = data.__dict__.get("_purchases_cache")
    if cached is None:
        ev = data.events
        buys = ev[ev["event_type"].isin(PURCHASE_TYPES)][["customer_id", "product_id", "ts", "revenue"]]
        cat = buys["product_id"].map(data.products.drop_duplicates("product_id").set_index("product_id")["category"])
        cached = buys.assign(top_category=top_level(cat).to_numpy())
        data.__dict__["_purchases_cache"] = cached
    return cached


def future_orders(data: ShopData, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Purchase lines in (start, end] with their top-level category."""
    buys = _purchases(data)
    return buys[(buys["ts"] > start) & (buys["ts"] <= end)]


def _window_cache(data: ShopData) -> dict[tuple[pd.Timestamp, pd.Timestamp], pd.DataFrame]:
    """The label windows' purchase sums already aggregated for this shop object, by (start, end)."""
    return data.__dict__.setdefault("_window_cache", {})


def window_purchases(data: ShopData, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Rows ``customer_id, top_category, revenue``: each customer's purchase revenue in (start, end] per top-level
    category, all the labels need; aggregated by the shop's engine (on Spark for a ``SparkShop``), cached per window."""
    cache = _window_cache(data)
    key = (pd.Timestamp(start), pd.Timestamp(end))
    if key not in cache:
        if data.engine == "spark":
            from persona.engines.spark.predict import window_purchases as spark_window_purchases

            cache[key] = spark_window_purchases(data, start, end)
        else:
            fo = future_orders(data, start, end)
            cache[key] = fo.groupby(["customer_id", "top_category"], dropna=False, sort=False)["revenue"].sum().reset_index()
    return cache[key]


def purchase_category_counts(data: ShopData) -> pd.Series:
    """Purchase lines per top-level category, counted by the shop's engine."""
    if data.engine == "spark":
        from persona.engines.spark.predict import category_counts

        return category_counts(data)
    return _purchases(data)["top_category"].dropna().value_counts()


Labeler = Callable[[ShopData, pd.Timestamp, pd.Timestamp, pd.Index], pd.Series]


def label_purchase(data: ShopData, t: pd.Timestamp, end: pd.Timestamp, ids: pd.Index) -> pd.Series:
    """1 when the customer buys anything in (t, end]."""
    buyers = set(window_purchases(data, t, end)["customer_id"])
    return pd.Series(ids.isin(buyers).astype(int), index=ids)


def label_category(category: str) -> Labeler:
    """1 when the customer buys in top-level ``category`` in (t, end]."""

    def lab(data: ShopData, t: pd.Timestamp, end: pd.Timestamp, ids: pd.Index) -> pd.Series:
        fo = window_purchases(data, t, end)
        buyers = set(fo.loc[fo["top_category"] == category, "customer_id"])
        return pd.Series(ids.isin(buyers).astype(int), index=ids)

    return lab


def label_churn(data: ShopData, t: pd.Timestamp, end: pd.Timestamp, ids: pd.Index) -> pd.Series:
    """1 when the customer buys nothing in (t, end]."""
    return 1 - label_purchase(data, t, end, ids)


def label_spend(data: ShopData, t: pd.Timestamp, end: pd.Timestamp, ids: pd.Index) -> pd.Series:
    """Revenue of the customer's purchases in (t, end]."""
    fo = window_purchases(data, t, end)
    return fo.groupby("customer_id")["revenue"].sum().reindex(ids).fillna(0.0)


Eligibility = Callable[[pd.DataFrame], pd.Series]


def everyone(feats: pd.DataFrame) -> pd.Series:
    """Every customer known at the cutoff."""
    return pd.Series(True, index=feats.index)


def buyers(feats: pd.DataFrame) -> pd.Series:
    """Customers with at least one purchase by the cutoff (churn is defined for them only)."""
    return feats["frequency"] > 0


class ModelMatrix:
    """Profile features → model columns: numeric features, top-level category shares, channel one-hots."""

    def fit(self, feats: pd.DataFrame, data: ShopData, n_categories: int = 8) -> ModelMatrix:
        """Learn the categories and channels that become columns."""
        cats = top_level(data.catalogue()["category"].dropna()).value_counts()
        self.categories_ = ranked_names(cats)[:n_categories]
        ch = feats["preferred_channel"].dropna().astype(str).value_counts()
        self.channels_ = [str(c) for c in ch.index[:4]]
        self.columns_ = [*NUMERIC_FEATURES, *(f"share_{c}" for c in self.categories_), *(f"channel_{c}" for c in self.channels_)]
        return self

    def transform(self, feats: pd.DataFrame) -> pd.DataFrame:
        """The model matrix (float, NaN where a feature is undefined; trees handle it)."""
        x = feats.reindex(columns=list(NUMERIC_FEATURES)).apply(pd.to_numeric, errors="coerce").astype(float)
        shares = feats.get("category_shares", pd.Series(index=feats.index, dtype=object))
        recs = [d if isinstance(d, dict) else {} for d in shares.to_numpy()]
        leaf = pd.DataFrame.from_records(recs, columns=None).fillna(0.0) if recs else pd.DataFrame()
        tops = pd.Series([str(c).split(">")[0].strip() for c in leaf.columns], index=leaf.columns, dtype=object)
        for c in self.categories_:
            cols = tops.index[tops == c]
            x[f"share_{c}"] = leaf[cols].sum(axis=1).to_numpy() if len(cols) else 0.0
        ch = feats.get("preferred_channel", pd.Series(index=feats.index, dtype=object)).astype(object)
        for c in self.channels_:
            x[f"channel_{c}"] = (ch == c).astype(float).to_numpy()
        return x[self.columns_]


def stacked(
    cache: FeatureCache, cutoffs: tuple[pd.Timestamp, ...], horizon_days: int, labeler: Labeler, eligible: Eligibility, matrix: ModelMatrix
) -> tuple[pd.DataFrame, pd.Series, pd.DataFrame]:
    """Rows of (customer, cutoff) for every cutoff: model matrix, label, and (customer_id, cutoff) keys."""
    xs, ys, keys = [], [], []
    for t in cutoffs:
        f = cache.at(t)
        keep = eligible(f).to_numpy()
        f = f[keep]
        if f.empty:
            continue
        xs.append(cache.matrix(t, matrix)[keep])
        ys.append(labeler(cache.data, t, t + pd.Timedelta(days=horizon_days), f.index))
        keys.append(pd.DataFrame({"customer_id": f.index.to_numpy(), "cutoff": t}))
    if not xs:
        raise InputError("no eligible customers at any cutoff", hint="ingest purchase events covering more time")
    return pd.concat(xs, ignore_index=True), pd.concat(ys, ignore_index=True), pd.concat(keys, ignore_index=True)
