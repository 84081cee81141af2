"""Timestamp layouts Persona detects."""

from __future__ import annotations

import pandas as pd

from persona.ingest.timestamps import TimestampParser


def _p(values, parser=None):
    return (parser or TimestampParser()).parse(pd.Series(values, dtype=object)).tolist()


def test_formats():
    got = _p(["2019-10-01 00:00:00 UTC", "1997-01-01", "19970101", "2019-10-01T01:02:03+02:00", "2019-10-01T01:02:03Z", "", None, "x"])
    assert got[:5] == [pd.Timestamp(s, tz="UTC") for s in ("2019-10-01", "1997-01-01", "1997-01-01", "2019-09-30 23:02:03",
                                                            "2019-10-01 01:02:03")]
    assert all(pd.isna(v) for v in got[5:])


def test_unix_seconds_and_ms_and_numeric_dtype():
    assert _p(["1570000000", "1570000000123"]) == [pd.Timestamp(1570000000, unit="s", tz="UTC"),
                                                   pd.Timestamp(1570000000123, unit="ms", tz="UTC")]
    got = TimestampParser().parse(pd.Series([1570000000, 19970101])).tolist()
    assert got == [pd.Timestamp(1570000000, unit="s", tz="UTC"), pd.Timestamp("1997-01-01", tz="UTC")]


def test_day_first_decided_from_data_and_kept():
    p = TimestampParser()
    assert _p(["01/12/2010 08:26", "13/12/2010 09:00"], p) == [pd.Timestamp("2010-12-01 08:26", tz="UTC"),
                                                                pd.Timestamp("2010-12-13 09:00", tz="UTC")]
    assert _p(["02/03/2011 10:00"], p) == [pd.Timestamp("2011-03-02 10:00", tz="UTC")]  # same file: still day-first
    assert _p(["12/13/2010 08:26", "01/02/2011 00:00"]) == [pd.Timestamp("2010-12-13 08:26", tz="UTC"),
                                                            pd.Timestamp("2011-01-02", tz="UTC")]


def test_out_of_range_rejected():
    assert pd.isna(_p(["1700-01-01"])[0]) and pd.isna(_p(["99999999999999999999"])[0])
