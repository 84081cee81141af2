"""Helpers of the Spark engine suites: load demo files into a store, compare two profile frames."""

from __future__ import annotations

import numpy as np
import pandas as pd


def _load(store, files) -> None:
    from persona.ingest import ENTITY_ORDER, ingest_file
    from persona.privacy.crypto import PIICipher

    for entity in ENTITY_ORDER:
        if entity in files:
            ingest_file(store, entity, files[entity], progress=False, cipher=PIICipher(b"s" * 32))


def assert_same_features(local: pd.DataFrame, spark: pd.DataFrame) -> None:
    assert list(spark.columns) == list(local.columns)
    assert list(spark.index) == list(local.index)
    for c in local.columns:
        a, b = spark[c], local[c]
        if b.dtype == object:  # a missing text is None from PostgreSQL, NaN from SQLite: the same to a profile
            a, b = a.where(a.notna(), np.nan), b.where(b.notna(), np.nan)
        pd.testing.assert_series_equal(a, b, check_dtype=False, rtol=1e-9, check_names=False, obj=c)
