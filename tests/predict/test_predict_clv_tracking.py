"""Tracking curves: period layout, actual counts as the summary counts them, expectations that telescope, CDNOW."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from shared_data import shared_data

from persona.errors import InputError
from persona.predict.clv import BetaGeoModel, ParetoNBDModel
from persona.predict.clv_summary import rfm_summary
from persona.predict.clv_tracking import period_bounds, tracking_blocks, tracking_curves


def _bgnbd() -> BetaGeoModel:
    m = BetaGeoModel()
    m.params_ = {"r": 0.25, "alpha": 4.0, "a": 0.8, "b": 2.4}
    return m


def _shop() -> pd.DataFrame:
    rows = [
        ("a", "2024-01-01"), ("a", "2024-01-03"), ("a", "2024-01-03"), ("a", "2024-01-20"), ("a", "2024-02-10"),
        ("b", "2024-01-10"), ("b", "2024-02-05"),
        ("c", "2024-01-25"),
        ("late", "2024-02-01"), ("late", "2024-02-08"),  # first purchase after the calibration end: not followed
    ]
    df = pd.DataFrame(rows, columns=["customer_id", "date"])
    df["date"] = pd.to_datetime(df["date"])
    df["revenue"] = 10.0
    return df


def test_period_bounds_put_the_calibration_end_on_a_boundary() -> None:
    b = period_bounds(pd.Timestamp("2024-01-01"), pd.Timestamp("2024-01-31"), pd.Timestamp("2024-02-20"), 7)
    assert b[0] == pd.Timestamp("2024-01-01") and b[-1] == pd.Timestamp("2024-02-21")
    assert pd.Timestamp("2024-02-01") in b
    assert (np.diff(b.to_numpy()) <= np.timedelta64(7, "D")).all() and (np.diff(b.to_numpy()) > np.timedelta64(0, "D")).all()


def test_actual_counts_match_the_summary_and_expectations_telescope() -> None:
    tx = _shop()
    cal_end, obs_end = pd.Timestamp("2024-01-31"), pd.Timestamp("2024-02-20")
    models = {"bgnbd": _bgnbd(), "no_curve": object()}
    tr = tracking_curves(tx, cal_end, obs_end, models, freq="W", period_days=7)
    s = rfm_summary(tx, cal_end, observation_end=obs_end, freq="W")
    # same-day purchases count once, the late customer is not followed
    assert tr["calibration_actual"] == s["frequency"].sum() == 2.0
    assert tr["holdout_actual"] == s["frequency_holdout"].sum() == 2.0
    assert sum(tr["actual"]) == 4.0 and len(tr["actual"]) == len(tr["period_start"])
    assert tr["period_start"][tr["calibration_periods"]] == "2024-02-01"
    assert list(tr["expected"]) == ["bgnbd"]  # a model without expected_purchases is left out
    # per-period expectations sum to each customer's E[X] at the calibration end and at the observation end
    first = s["first_purchase"]
    age_cal = ((cal_end + pd.Timedelta(days=1) - first).dt.days / 7.0).to_numpy()
    age_obs = ((obs_end + pd.Timedelta(days=1) - first).dt.days / 7.0).to_numpy()
    m = _bgnbd()
    assert tr["calibration_expected"]["bgnbd"] == pytest.approx(m.expected_purchases(age_cal).sum(), rel=1e-9)
    assert tr["holdout_expected"]["bgnbd"] == pytest.approx((m.expected_purchases(age_obs) - m.expected_purchases(age_cal)).sum(), rel=1e-9)
    assert all(v >= 0 for v in tr["expected"]["bgnbd"])


def test_blocks_keep_the_totals_and_never_straddle_the_boundary() -> None:
    tr = tracking_curves(_shop(), "2024-01-31", "2024-02-20", {"bgnbd": _bgnbd()}, period_days=2)
    blocks = tracking_blocks(tr, n_blocks=4)
    assert sum(b["periods"] for b in blocks) == len(tr["actual"])
    assert sum(b["actual"] for b in blocks) == pytest.approx(sum(tr["actual"]))
    assert sum(b["bgnbd"] for b in blocks if b["part"] == "holdout") == pytest.approx(tr["holdout_expected"]["bgnbd"], abs=0.1)
    parts = [b["part"] for b in blocks]
    assert parts == sorted(parts, key=lambda p: p != "calibration")  # every calibration block comes first
    assert blocks[parts.index("holdout")]["from"] == "2024-02-01"


@pytest.mark.parametrize(
    ("kwargs", "msg"),
    [({"freq": "M"}, "freq"), ({"period_days": 0}, "period_days"), ({"period_days": 1.5}, "period_days"), ({"period_days": True}, "period_days")],
)
def test_bad_parameters_are_refused(kwargs: dict, msg: str) -> None:
    with pytest.raises(InputError, match=msg):
        tracking_curves(_shop(), "2024-01-31", "2024-02-20", {"bgnbd": _bgnbd()}, **kwargs)


def test_bad_dates_are_refused() -> None:
    with pytest.raises(InputError, match="not after"):
        tracking_curves(_shop(), "2024-01-31", "2024-01-31", {})
    with pytest.raises(InputError, match="no customer"):
        tracking_curves(_shop(), "2023-12-01", "2024-02-20", {})


def test_cdnow_tracking_shows_where_the_models_fall_behind() -> None:
    from persona.ingest.adapters.cdnow import read_cdnow_transactions

    tx = read_cdnow_transactions(shared_data("cdnow", "CDNOW_sample.txt"))
    s = rfm_summary(tx, "1997-09-30", observation_end="1998-06-30", freq="W")
    bg = BetaGeoModel().fit(s["frequency"], s["recency"], s["T"])
    pn = ParetoNBDModel().fit(s["frequency"], s["recency"], s["T"])
    tr = tracking_curves(tx, "1997-09-30", "1998-06-30", {"bgnbd": bg, "pareto_nbd": pn})
    assert tr["calibration_periods"] == 39 and len(tr["actual"]) == 78
    assert tr["calibration_actual"] == 2457 and tr["holdout_actual"] == 1882
    # BG/NBD fits the calibration weeks in aggregate (within 2%) and falls short in the holdout (FHL 2005)
    assert tr["calibration_expected"]["bgnbd"] == pytest.approx(2457, rel=0.02)
    assert tr["holdout_expected"]["bgnbd"] == pytest.approx(1664, abs=2)
    # the shortfall sits in October-November 1997 and February-March 1998
    blocks = tracking_blocks(tr)
    oct_nov = next(b for b in blocks if b["from"] == "1997-11-12")
    assert oct_nov["actual"] - oct_nov["bgnbd"] > 50
