"""persona.jsonvalues: numpy and pandas values become JSON of their own type; only unknown objects become text."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

import numpy as np
import pandas as pd

from persona.jsonvalues import dumps, plain, utc_iso


def test_numpy_scalars_and_arrays_keep_their_types() -> None:
    v = {"i": np.int64(3), "u": np.uint8(7), "f": np.float32(0.5), "d": np.float64(2.25), "b": np.bool_(True),
         "a": np.array([1, 2]), "m": np.array([[0.5, np.nan]]), "nest": [{"x": np.int8(-1), "y": (np.bool_(False),)}]}
    assert json.loads(dumps(v)) == {"i": 3, "u": 7, "f": 0.5, "d": 2.25, "b": True, "a": [1, 2], "m": [[0.5, None]],
                                    "nest": [{"x": -1, "y": [False]}]}
    got = json.loads(dumps(v))
    assert type(got["i"]) is int and type(got["b"]) is bool and type(got["f"]) is float


def test_missing_and_non_finite_values_are_null() -> None:
    v = {"nan": float("nan"), "npnan": np.float64("nan"), "inf": np.float32("inf"), "ninf": -float("inf"), "na": pd.NA,
         "nat": pd.NaT, "dnan": Decimal("NaN"), "nat64": np.datetime64("NaT"), "deep": [[{"z": float("nan")}]]}
    assert json.loads(dumps(v)) == {k: None for k in v if k != "deep"} | {"deep": [[{"z": None}]]}
    assert dumps(float("nan")) == "null"


def test_times_decimals_and_keys() -> None:
    v = {"ts": pd.Timestamp("2026-01-02 03:04:05", tz="UTC"), "dt": datetime(2026, 1, 1, tzinfo=UTC),
         "day": date(2026, 5, 1), "d64": np.datetime64("2026-01-01T10:00"), "price": Decimal("12.50"), "n": Decimal("7"),
         np.int64(5): "numpy key", "set": {1}}
    assert json.loads(dumps(v)) == {"ts": "2026-01-02T03:04:05+00:00", "dt": "2026-01-01T00:00:00+00:00", "day": "2026-05-01",
                                    "d64": "2026-01-01T10:00:00", "price": 12.5, "n": 7, "5": "numpy key", "set": [1]}


def test_text_is_never_parsed_and_unknown_objects_become_text() -> None:
    v = {"zip": "007", "n": "3", "f": "0.5", "t": "true", "nan": "NaN", "np": np.str_("42")}
    assert json.loads(dumps(v)) == {"zip": "007", "n": "3", "f": "0.5", "t": "true", "nan": "NaN", "np": "42"}

    class Thing:
        def __str__(self) -> str:
            return "a thing"

    assert json.loads(dumps({"x": Thing()})) == {"x": "a thing"}


def test_layouts_and_plain() -> None:
    assert dumps({"a": [1, "é"]}) == '{"a":[1,"é"]}'
    assert dumps({"a": 1}, compact=False) == '{"a": 1}'
    assert dumps({"a": 1}, indent=2) == '{\n  "a": 1\n}'
    assert plain({"a": np.int64(1), "b": np.array([0.5])}) == {"a": 1, "b": [0.5]}


def test_a_stored_timestamp_reads_as_utc_iso_text_from_either_database():
    expected = "2026-12-07T01:00:00.250000+00:00"
    assert utc_iso(datetime(2026, 12, 7, 1, 0, 0, 250000)) == expected  # SQLite through the ORM: naive UTC
    assert utc_iso("2026-12-07 01:00:00.250000") == expected  # SQLite through a plain query: text
    assert utc_iso(pd.Timestamp("2026-12-07 02:00:00.25", tz="Europe/Paris")) == expected  # aware, another zone
    assert utc_iso(datetime(2026, 12, 7, 1, 0, 0, 250000, tzinfo=UTC)) == expected
    assert utc_iso(None) is None and utc_iso(pd.NaT) is None and utc_iso(float("nan")) is None
