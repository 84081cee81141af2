"""Assignment: deterministic, stable, weighted; holdouts; SRM check; exposure log on SQLite and PostgreSQL."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from persona.errors import InputError, NotFoundError
from persona.experiments.assignment import (
    ExperimentSpec,
    assign,
    bucket,
    global_holdout_mask,
    in_global_holdout,
    load_experiment,
    log_exposure,
    read_exposures,
    srm_check,
)

IDS = [f"c{i}" for i in range(20_000)]


def test_bucket_is_sha256_uniform_and_deterministic() -> None:
    import hashlib

    d = hashlib.sha256(b"s:exp:c1").digest()
    assert bucket("s", "exp", "c1") == int.from_bytes(d[:8], "big") / 2**64
    u = np.array([bucket("s", "exp", c) for c in IDS[:5000]])
    assert ((0 <= u) & (u < 1)).all()
    assert stats.kstest(u, "uniform").pvalue > 0.001


def test_assign_same_result_twice_and_new_customers_do_not_move_anyone() -> None:
    spec = ExperimentSpec("welcome", {"control": 1, "A": 1, "B": 2}, salt="s1")
    first = assign(spec, IDS[:10_000])
    again = assign(spec, IDS[:10_000])
    pd.testing.assert_series_equal(first, again)
    grown = assign(spec, list(reversed(IDS)))  # more customers, other order
    pd.testing.assert_series_equal(grown.loc[first.index], first)


def test_assign_follows_weights_and_holdout() -> None:
    spec = ExperimentSpec("w", {"control": 1, "A": 1, "B": 2}, holdout=0.1)
    share = assign(spec, IDS).value_counts(normalize=True)
    expected = spec.weights()
    assert expected == pytest.approx({"control": 0.225, "A": 0.225, "B": 0.45, "holdout": 0.1})
    for k, v in expected.items():
        assert abs(share[k] - v) < 0.015
    assert not srm_check(assign(spec, IDS).value_counts(), expected).mismatch


def test_different_experiments_and_salts_are_independent() -> None:
    a = assign(ExperimentSpec("e1"), IDS) == "treatment"
    b = assign(ExperimentSpec("e2"), IDS) == "treatment"
    c = assign(ExperimentSpec("e1", salt="other"), IDS) == "treatment"
    for x in (b, c):
        table = pd.crosstab(a, x)
        assert stats.chi2_contingency(table).pvalue > 0.001


def test_global_holdout_share_and_consistency() -> None:
    mask = global_holdout_mask(IDS, "salt-x", share=0.05)
    assert abs(mask.mean() - 0.05) < 0.006
    assert all(in_global_holdout(c, "salt-x", 0.05) == mask[c] for c in IDS[:300])
    # independent of an experiment's split
    arm = assign(ExperimentSpec("e1"), IDS) == "treatment"
    assert stats.chi2_contingency(pd.crosstab(arm, mask)).pvalue > 0.001
    # a larger share is a superset: raising the holdout never releases anyone
    assert (global_holdout_mask(IDS, "salt-x", 0.1)[mask]).all()
    with pytest.raises(InputError):
        in_global_holdout("c1", "s", 1.5)


def test_spec_validation() -> None:
    with pytest.raises(InputError, match="positive"):
        ExperimentSpec("x", {"a": 0, "b": 1})
    with pytest.raises(InputError, match="reserved"):
        ExperimentSpec("x", {"holdout": 1, "b": 1})
    with pytest.raises(InputError, match="holdout"):
        ExperimentSpec("x", holdout=1.0)


def test_srm_flags_mismatch() -> None:
    assert srm_check({"a": 5000, "b": 5000}).p_value == pytest.approx(1.0)
    bad = srm_check({"a": 5000, "b": 5400})
    assert bad.mismatch and bad.p_value < 0.001
    assert not srm_check({"a": 5000, "b": 5100}).mismatch  # p = 0.32
    with pytest.raises(InputError):
        srm_check({"a": 10})
    with pytest.raises(InputError, match="no planned weight"):
        srm_check({"a": 10, "b": 10}, {"a": 1})


def test_log_exposure_first_exposure_wins(any_store) -> None:  # noqa: ANN001
    spec = ExperimentSpec("exp-log", {"control": 1, "treatment": 1}, holdout=0.2)
    arms = assign(spec, IDS[:1500])
    t0 = pd.Timestamp("2026-01-01", tz="UTC").to_pydatetime()
    assert log_exposure(any_store, spec, arms, exposed_at=t0) == 1500
    assert log_exposure(any_store, spec, arms.iloc[:100]) == 0  # already exposed: unchanged
    more = assign(spec, IDS[1500:1600])
    assert log_exposure(any_store, "exp-log", more) == 100
    df = read_exposures(any_store, "exp-log")
    assert len(df) == 1600
    got = df.set_index("customer_id")["variant"]
    pd.testing.assert_series_equal(got.loc[arms.index].rename("variant"), arms, check_names=False, check_index_type=False)
    assert (df.set_index("customer_id").loc[arms.index[:100], "exposed_at"] == pd.Timestamp(t0)).all()
    assert load_experiment(any_store, "exp-log").holdout == 0.2
    with pytest.raises(InputError, match="not part"):
        log_exposure(any_store, spec, pd.Series({"zz": "nope"}))
    with pytest.raises(NotFoundError, match="exp-log"):
        load_experiment(any_store, "missing")
