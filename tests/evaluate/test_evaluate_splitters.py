"""Splitters: the 2021 reco_utils stratified split reproduced row for row, temporal holdouts, global cut."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from shared_data import shared_data

from persona.errors import InputError, SchemaError
from persona.evaluate import random_split, stratified_split, temporal_global_split, temporal_user_split


def _reference_2021(df: pd.DataFrame, ratio: float, key: str, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The 2021 ``python_stratified_split`` loop, written out plainly for comparison."""
    train, test = [], []
    for _, group in df.groupby(key):
        g = group.sample(frac=1, random_state=seed)
        cut = round(ratio * len(g))
        train.append(g.iloc[:cut])
        test.append(g.iloc[cut:])
    return pd.concat(train), pd.concat(test)


def _frame(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"user_id": rng.integers(0, 30, n), "item_id": rng.integers(0, 50, n),
                         "timestamp": rng.integers(0, 10_000, n)})


@pytest.mark.parametrize("by", ["user", "item"])
def test_stratified_matches_reference_row_for_row(by):
    df = _frame()
    tr, te = stratified_split(df, 0.75, filter_by=by, seed=42)
    rtr, rte = _reference_2021(df, 0.75, f"{by}_id", 42)
    assert tr.index.tolist() == rtr.index.tolist()
    assert te.index.tolist() == rte.index.tolist()


def test_stratified_uses_half_to_even_rounding():
    df = pd.DataFrame({"user_id": range(8), "item_id": [1, 1, 2, 2, 2, 2, 2, 2]})
    tr, te = stratified_split(df, 0.75, filter_by="item")
    # item 1: round(1.5) = 2 rows to train; item 2: round(4.5) = 4
    assert tr["item_id"].value_counts().to_dict() == {1: 2, 2: 4}
    assert te["item_id"].tolist() == [2, 2]


def test_stratified_min_rating_and_errors():
    df = pd.DataFrame({"user_id": [1, 1, 1, 2], "item_id": [1, 2, 3, 1]})
    tr, te = stratified_split(df, 0.5, filter_by="user", min_rating=2)
    assert set(tr["user_id"]) | set(te["user_id"]) == {1}
    with pytest.raises(InputError):
        stratified_split(df, 1.0)
    with pytest.raises(InputError):
        stratified_split(df, 0.5, filter_by="time")  # type: ignore[arg-type]
    with pytest.raises(SchemaError):
        stratified_split(df, 0.5, user="customer")


def test_movielens_100k_split_sizes():
    path = shared_data("ml-100k", "ml-100k.inter")
    df = pd.read_csv(path, sep="\t")
    df.columns = ["user_id", "item_id", "rating", "timestamp"]
    tr, te = stratified_split(df, 0.75, filter_by="item", seed=42)
    assert (len(tr), len(te)) == (75_066, 24_934)
    # the first training rows are item 1's shuffled group, as the 2021 code produced them
    ref_tr, _ = _reference_2021(df[df["item_id"] <= 3], 0.75, "item_id", 42)
    assert tr.index[: len(ref_tr)].tolist() == ref_tr.index.tolist()


def test_temporal_user_last_n_and_fraction():
    df = pd.DataFrame({"user_id": ["a"] * 5 + ["b"] * 2 + ["c"],
                       "item_id": range(8),
                       "timestamp": [5, 1, 4, 2, 3, 10, 10, 7]})
    tr, te = temporal_user_split(df, n=2)
    # a: newest are t=5 (item 0) and t=4 (item 2); b: ties keep source order, so item 6 is last; c keeps its row
    assert sorted(te["item_id"]) == [0, 2, 6]
    assert 7 in set(tr["item_id"])
    tr, te = temporal_user_split(df, fraction=0.2)
    assert sorted(te["item_id"]) == [0]  # a: round(1.0) = 1; b: round(0.4) = 0; c: round(0.2) = 0
    with pytest.raises(InputError):
        temporal_user_split(df, n=1, fraction=0.2)
    with pytest.raises(InputError):
        temporal_user_split(df)


def test_temporal_user_keeps_min_train():
    df = pd.DataFrame({"user_id": ["a", "a"], "item_id": [1, 2], "timestamp": [1, 2]})
    tr, te = temporal_user_split(df, n=5)
    assert tr["item_id"].tolist() == [1] and te["item_id"].tolist() == [2]


def test_temporal_global_and_random():
    df = pd.DataFrame({"user_id": range(10), "item_id": range(10), "timestamp": range(10, 0, -1)})
    tr, te = temporal_global_split(df, 0.7)
    assert tr["timestamp"].max() < te["timestamp"].min()
    assert len(tr) == 7
    tr, te = temporal_global_split(df, cutoff=3)
    assert len(tr) == 2
    with pytest.raises(InputError, match="cannot be compared with the 'timestamp' column"):
        temporal_global_split(df, cutoff=pd.Timestamp("2020-01-01"))  # epoch numbers against a date
    a, b = random_split(df, 0.6, seed=1)
    a2, _ = random_split(df, 0.6, seed=1)
    assert len(a) == 6 and len(b) == 4 and a.index.tolist() == a2.index.tolist()
