"""Stored predictions: values and their JSON details as the store encodes them, on SQLite and PostgreSQL."""

from __future__ import annotations

import numpy as np
import pandas as pd

from persona.predict.repository import read_predictions, save_predictions
from persona.store import Store


def test_predictions_replace_the_previous_ones_with_json_details(any_store: Store) -> None:
    save_predictions(any_store, "churn_probability", pd.Series([0.9], index=["old"]), [{"top_factors": []}], 1)
    values = pd.Series([np.float64(0.25), np.nan, 0.75], index=["a", "b", "c"])
    details = [
        {"top_factors": [{"feature": "recency_days", "value": np.int64(40), "weight": np.float64(0.5)}]},
        {"top_factors": [], "as_of": pd.Timestamp("2024-03-01", tz="UTC"), "score": np.float64(np.nan)},
        {"top_factors": [{"feature": "orders", "value": np.inf, "flag": np.bool_(True)}]},
    ]
    assert save_predictions(any_store, "churn_probability", values, details, model_version=2) == 3
    got = read_predictions(any_store, "churn_probability").set_index("customer_id")
    assert got.index.tolist() == ["c", "a", "b"]  # highest first, the missing value last on both databases
    assert got.loc["a", "value"] == 0.25 and got.loc["c", "value"] == 0.75 and pd.isna(got.loc["b", "value"])
    assert got.loc["a", "details"] == {"top_factors": [{"feature": "recency_days", "value": 40, "weight": 0.5}]}
    assert got.loc["b", "details"] == {"top_factors": [], "as_of": "2024-03-01T00:00:00+00:00", "score": None}
    assert got.loc["c", "details"] == {"top_factors": [{"feature": "orders", "value": None, "flag": True}]}
    versions = any_store.read_frame("SELECT DISTINCT model_version FROM predictions")["model_version"].tolist()
    assert versions == [2]
    assert read_predictions(any_store, "churn_probability", top=2)["customer_id"].tolist() == ["c", "a"]
