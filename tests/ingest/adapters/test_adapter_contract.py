"""Every adapter's output is canonical: known entities, canonical column kinds, UTC timestamps, plain Python
values, and chunks the ingest engine's coercer accepts without a single rejected row."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from persona.ingest.adapters import ADAPTERS, get_adapter
from persona.ingest.schema import SPECS


def _movielens(d):
    (d / "u.data").write_text("1\t10\t4\t881250949\n2\t10\t2\t881250950\n")
    (d / "u.item").write_text("10|Heat (1995)|01-Jan-1995||http://x|" + "|".join(["0", "1"] + ["0"] * 17) + "\n")
    (d / "u.user").write_text("1|24|M|technician|85711\n2|53|F|other|94043\n")


def _cdnow(d):
    (d / "CDNOW_sample.txt").write_text(" 00004 0001 19970101  2   29.33\n 00004 0001 19970118  2   29.73\n")


def _retail(d):
    (d / "retail.csv").write_text(
        "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
        "536365,85123A,HEART,6,12/1/2010 8:26,2.55,17850.0,United Kingdom\n"
        "536366,22633,WARMER,6,12/1/2010 8:28,1.85,,United Kingdom\n"
        "C536383,85123A,HEART,-2,12/3/2010 9:49,2.55,17850.0,United Kingdom\n"
        "536367,POST,POSTAGE,1,12/1/2010 8:34,18.00,12583,France\n")


def _taobao(d):
    (d / "UserBehavior.csv").write_text("1,100,7,pv,1511544070\n1,100,7,buy,1511544080\n")


def _rees46(d):
    (d / "events.csv").write_text(
        "event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session\n"
        "2019-10-01 00:00:00 UTC,view,1,10,electronics.smartphone,apple,999.00,7,s1\n"
        "2019-10-01 00:04:00 UTC,purchase,2,11,,,5.50,7,s1\n")


FIXTURES = {"movielens": _movielens, "cdnow": _cdnow, "retail": _retail, "taobao": _taobao, "rees46": _rees46}


def test_every_adapter_has_a_fixture_here():
    assert set(FIXTURES) == set(ADAPTERS)


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_output_is_canonical_and_accepted_by_the_engine(name, tmp_path):
    from persona.ingest.coerce import ChunkCoercer

    FIXTURES[name](tmp_path)
    chunks = get_adapter(name).read(tmp_path)
    assert "events" in chunks and set(chunks) <= set(SPECS)
    for entity, frames in chunks.items():
        spec = SPECS[entity]
        for df in frames:
            assert len(df) > 0
            assert set(spec.required) <= set(df.columns), (entity, df.columns)
            for col, kind in spec.columns.items():
                if kind == "ts" and col in df:
                    assert isinstance(df[col].dtype, pd.DatetimeTZDtype) and str(df[col].dt.tz) == "UTC"
            for col in df.columns:  # plain values only: no pd.NA leaking into JSON attributes
                assert not pd.api.types.is_extension_array_dtype(df[col].dtype) or isinstance(df[col].dtype, pd.DatetimeTZDtype)
            coerced = ChunkCoercer(spec, {c: c for c in df.columns}).coerce(df)
            assert coerced.ok.all(), coerced.reasons[~coerced.ok].tolist()
            if "_extras" in coerced.frame:
                json.dumps(coerced.frame["_extras"].tolist())
