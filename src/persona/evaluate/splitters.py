"""Train/test splitters on interaction DataFrames: stratified random, per-user temporal, global temporal.

``stratified_split`` reproduces the 2021 Microsoft Recommenders ``python_stratified_split`` row for
row (the split behind their published MovieLens table): rows are grouped by user or item (groups
in sorted key order), each group is shuffled with ``group.sample(frac=1, random_state=seed)`` and
its first ``round(ratio * n)`` rows (Python's half-to-even ``round``) go to train. The output keeps
that order, so code that numbers ids in order of appearance sees exactly what theirs saw.
"""

from __future__ import annotations

import logging
from typing import Literal

import numpy as np
import pandas as pd

from persona.errors import InputError, SchemaError

log = logging.getLogger(__name__)


def _check_columns(df: pd.DataFrame, cols: list[str]) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise SchemaError(
            f"the interactions lack column(s) {missing}; they have {list(df.columns)}",
            hint="pass user=, item= (and time=) naming your columns",
        )


def _check_ratio(ratio: float) -> None:
    if not 0.0 < float(ratio) < 1.0:
        raise InputError(f"ratio must lie strictly between 0 and 1, got {ratio!r}", hint="e.g. ratio=0.75 keeps 75% in train")


def _shuffled_positions(n: int, seed: int, cache: dict[int, np.ndarray]) -> np.ndarray:
    """The row order ``DataFrame.sample(frac=1, random_state=seed)`` gives a group of ``n`` rows."""
    perm = cache.get(n)
    if perm is None:
        perm = pd.RangeIndex(n).to_series().sample(frac=1, random_state=seed).to_numpy()
        cache[n] = perm
    return perm


def stratified_split(
    df: pd.DataFrame,
    ratio: float = 0.75,
    *,
    filter_by: Literal["user", "item"] = "user",
    user: str = "user_id",
    item: str = "item_id",
    min_rating: int = 1,
    seed: int = 42,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Random split stratified by user or item: each group keeps ``ratio`` of its rows in train.

    Args:
        df: one row per interaction, in source order (the draws follow it).
        ratio: share of each group's rows that go to train.
        filter_by: ``"user"`` or ``"item"``: the column whose groups are split.
        user: user column.
        item: item column.
        min_rating: drop groups with fewer rows than this first (as reco_utils' ``min_rating``).
        seed: random seed of every group's shuffle.

    Returns:
        ``(train, test)`` DataFrames with the columns of ``df``.

    Raises:
        SchemaError: a column is missing.
        InputError: ``ratio`` or ``filter_by`` is invalid.
    """
    _check_columns(df, [user, item])
    _check_ratio(ratio)
    if filter_by not in ("user", "item"):
        raise InputError(f"filter_by must be 'user' or 'item', got {filter_by!r}")
    key = user if filter_by == "user" else item
    if min_rating > 1:
        sizes = df.groupby(key)[key].transform("size")
        df = df[sizes >= min_rating]
    cache: dict[int, np.ndarray] = {}
    train_pos: list[np.ndarray] = []
    test_pos: list[np.ndarray] = []
    for _, positions in sorted(df.groupby(key, sort=True).indices.items(), key=lambda kv: kv[0]):
        n = len(positions)
        order = positions[_shuffled_positions(n, seed, cache)]
        cut = round(ratio * n)
        train_pos.append(order[:cut])
        test_pos.append(order[cut:])
    tr = np.concatenate(train_pos) if train_pos else np.empty(0, dtype=np.int64)
    te = np.concatenate(test_pos) if test_pos else np.empty(0, dtype=np.int64)
    return df.iloc[tr], df.iloc[te]


def random_split(
    df: pd.DataFrame, ratio: float = 0.75, *, seed: int = 42
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Uniform random split of rows (no stratification).

    Args:
        df: interactions.
        ratio: share of rows that go to train.
        seed: random seed.

    Returns:
        ``(train, test)``.
    """
    _check_ratio(ratio)
    order = np.random.default_rng(seed).permutation(len(df))
    cut = round(ratio * len(df))
    return df.iloc[np.sort(order[:cut])], df.iloc[np.sort(order[cut:])]


def temporal_user_split(
    df: pd.DataFrame,
    *,
    n: int | None = None,
    fraction: float | None = None,
    user: str = "user_id",
    time: str = "timestamp",
    min_train: int = 1,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-user temporal holdout: each user's last ``n`` interactions, or last ``fraction``, go to test.

    Ties in time keep source order. With ``fraction`` a user with ``m`` rows gives
    ``round(fraction * m)`` rows to test; either way each user keeps at least ``min_train`` rows
    in train (a user with too few rows stays entirely in train).

    Args:
        df: interactions with a time column.
        n: leave-last-n (e.g. 1 for leave-one-out).
        fraction: leave-last-fraction (e.g. 0.2).
        user: user column.
        time: time column (numbers or datetimes).
        min_train: rows each user keeps in train at least.

    Returns:
        ``(train, test)``.

    Raises:
        InputError: neither or both of ``n`` and ``fraction`` given, or out of range.
    """
    _check_columns(df, [user, time])
    if (n is None) == (fraction is None):
        raise InputError("give exactly one of n= (last n per user) or fraction= (last share per user)")
    if n is not None and n < 1:
        raise InputError(f"n must be at least 1, got {n}")
    if fraction is not None:
        _check_ratio(fraction)
    pos = np.arange(len(df))
    frame = pd.DataFrame({"u": df[user].to_numpy(), "t": df[time].to_numpy(), "pos": pos})
    frame = frame.sort_values(["u", "t", "pos"], kind="mergesort")
    size = frame.groupby("u", sort=False)["pos"].transform("size").to_numpy()
    rank_from_end = frame.groupby("u", sort=False).cumcount(ascending=False).to_numpy()  # 0 = newest
    if n is not None:
        n_test = np.full(len(frame), n)
    else:
        n_test = np.array([round(fraction * s) for s in size]) if len(size) else np.zeros(0, dtype=int)
    n_test = np.minimum(n_test, np.maximum(size - min_train, 0))
    is_test = rank_from_end < n_test
    test_pos = np.sort(frame["pos"].to_numpy()[is_test])
    train_pos = np.sort(frame["pos"].to_numpy()[~is_test])
    return df.iloc[train_pos], df.iloc[test_pos]


def temporal_global_split(
    df: pd.DataFrame,
    ratio: float | None = 0.8,
    *,
    cutoff: object | None = None,
    time: str = "timestamp",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Global temporal split: everything before a cut-off time trains, the rest tests.

    Args:
        df: interactions with a time column.
        ratio: share of rows (by time) in train, used when ``cutoff`` is not given.
        cutoff: explicit time; rows with ``time < cutoff`` train.
        time: time column.

    Returns:
        ``(train, test)``.
    """
    _check_columns(df, [time])
    t = df[time]
    if cutoff is None:
        if ratio is None:
            raise InputError("give ratio= or cutoff=")
        _check_ratio(ratio)
        order = np.argsort(t.to_numpy(), kind="mergesort")
        cut = round(ratio * len(df))
        if cut == 0 or cut == len(df):
            raise InputError(f"ratio {ratio} leaves one side of the split empty for {len(df)} rows")
        cutoff = t.iloc[order[cut]]
    try:
        mask = np.asarray(t < cutoff, dtype=bool)
    except TypeError as exc:
        raise InputError(f"cutoff {cutoff!r} cannot be compared with the {time!r} column ({t.dtype})",
                         hint=f"give a cutoff of the column's kind (a number for epoch seconds, a timestamp for datetimes), "
                              f"or convert the column first, e.g. pd.to_datetime(df[{time!r}], unit='s')") from exc
    return df[mask], df[~mask]


def holdout_users_items(train: pd.DataFrame, test: pd.DataFrame, *, user: str = "user_id", item: str = "item_id") -> pd.DataFrame:
    """The test rows whose user and item both appear in train (the ones a model can be scored on)."""
    keep = test[user].isin(set(train[user])) & test[item].isin(set(train[item]))
    return test[keep]
