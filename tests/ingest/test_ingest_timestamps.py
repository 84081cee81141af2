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


def test_zone_less_times_are_utc_whatever_the_other_rows_carry():
    values = ["2025-03-01T10:00:00+08:00", "2025-03-01 10:00:00", "2025-03-01T10:00:00-05:00", "2025-03-01T10:00:00",
              "2025-03-01T10:00:00Z", "2025-03-01 10:00:00 UTC", "2025-03-01 10:00:00+0530", "2025-03-01"]
    want = [pd.Timestamp(s, tz="UTC") for s in ("2025-03-01 02:00", "2025-03-01 10:00", "2025-03-01 15:00",
                                                "2025-03-01 10:00", "2025-03-01 10:00", "2025-03-01 10:00",
                                                "2025-03-01 04:30", "2025-03-01")]
    assert _p(values) == want
    assert _p(values[::-1]) == want[::-1]  # the order of the rows changes nothing
    assert [_p([v])[0] for v in values] == want  # each value as if alone


def test_ambiguous_day_month_is_refused_with_a_reason_until_a_date_proves_the_order():
    p = TimestampParser()
    got = _p(["01/02/2025 10:00:00", "05/05/2025", "2025-01-01"], p)
    assert pd.isna(got[0]) and got[1:] == [pd.Timestamp("2025-05-05", tz="UTC"), pd.Timestamp("2025-01-01", tz="UTC")]
    assert p.dayfirst is None and p.refused.index.tolist() == [0]
    assert p.refused.iat[0].startswith("ambiguous day/month order in '01/02/2025 10:00:00'") and "ISO 8601" in p.refused.iat[0]
    # a proof anywhere in the chunk decides for the whole chunk (rows before it too) and for later chunks
    assert _p(["01/02/2025", "01/25/2025"], p) == [pd.Timestamp("2025-01-02", tz="UTC"), pd.Timestamp("2025-01-25", tz="UTC")]
    assert p.dayfirst is False and p.refused is None
    assert _p(["03/04/2025"], p) == [pd.Timestamp("2025-03-04", tz="UTC")]


def test_a_date_contradicting_the_proven_order_is_refused_not_read_the_other_way():
    p = TimestampParser()
    assert _p(["25/01/2025", "02/03/2025"], p) == [pd.Timestamp("2025-01-25", tz="UTC"), pd.Timestamp("2025-03-02", tz="UTC")]
    got = _p(["04/05/2025", "01/13/2025"], p)
    assert got[0] == pd.Timestamp("2025-05-04", tz="UTC") and pd.isna(got[1])
    assert p.refused.iat[0].startswith("day/month order in '01/13/2025' contradicts '25/01/2025'")
    # within one chunk the first proof in row order wins
    p2 = TimestampParser()
    got = _p(["01/13/2025", "13/01/2025", "02/03/2025"], p2)
    assert got[0] == pd.Timestamp("2025-01-13", tz="UTC") and pd.isna(got[1]) and got[2] == pd.Timestamp("2025-02-03", tz="UTC")


def test_dot_and_dash_dates_follow_the_same_order_rule():
    p = TimestampParser()
    assert pd.isna(_p(["01.02.2025"], p)[0]) and p.refused is not None
    assert _p(["13.02.2025", "01.02.2025 10:00"], p) == [pd.Timestamp("2025-02-13", tz="UTC"),
                                                          pd.Timestamp("2025-02-01 10:00", tz="UTC")]
    q = TimestampParser()
    assert _p(["01-13-2025", "02-03-2025 08:00:00"], q) == [pd.Timestamp("2025-01-13", tz="UTC"),
                                                             pd.Timestamp("2025-02-03 08:00", tz="UTC")]


def test_observe_learns_the_order_without_parsing():
    p = TimestampParser()
    p.observe(pd.Series(["01/02/2025", "01/20/2025", "x"], dtype=object))
    assert p.dayfirst is False and p.refused is None
    assert _p(["02/03/2025"], p) == [pd.Timestamp("2025-02-03", tz="UTC")]
