"""analyze(): numbers against scipy/statsmodels, corrections, verdicts, errors, stored experiments."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

from persona.errors import InputError, SchemaError
from persona.experiments.analysis import analyze, analyze_experiment
from persona.experiments.assignment import ExperimentSpec, assign, log_exposure


def _data(seed: int = 1, n: int = 4000) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    variant = rng.choice(["control", "A", "B"], size=n)
    p = np.select([variant == "A", variant == "B"], [0.12, 0.10], 0.10)
    conv = rng.random(n) < p
    revenue = np.where(conv, rng.lognormal(3, 1, n), 0.0)
    return pd.DataFrame({"variant": variant, "converted": conv.astype(int), "revenue": revenue})


def test_numbers_match_reference_implementations() -> None:
    df = _data()
    res = analyze(df, "variant", "converted", revenue="revenue", n_boot=300)
    assert res.control == "control"
    c = df[df.variant == "control"]
    for v in ("A", "B"):
        a = df[df.variant == v]
        row = res.comparisons.query("metric == 'converted' and variant == @v").iloc[0]
        z, p = proportions_ztest([a.converted.sum(), c.converted.sum()], [len(a), len(c)])
        lo, hi = confint_proportions_2indep(a.converted.sum(), len(a), c.converted.sum(), len(c), method="newcomb")
        assert row["statistic"] == pytest.approx(z, rel=1e-10)
        assert row["p_value"] == pytest.approx(p, rel=1e-9)
        assert (row["ci_low"], row["ci_high"]) == pytest.approx((lo, hi), rel=1e-10)
        rrow = res.comparisons.query("metric == 'revenue' and variant == @v").iloc[0]
        t = stats.ttest_ind(a.revenue, c.revenue, equal_var=False)
        assert rrow["statistic"] == pytest.approx(t.statistic, rel=1e-10)
        assert rrow["p_value"] == pytest.approx(t.pvalue, rel=1e-9)
        ci = t.confidence_interval()
        assert (rrow["ci_low"], rrow["ci_high"]) == pytest.approx((ci.low, ci.high), rel=1e-9)
        assert rrow["bootstrap_ci_low"] < rrow["difference"] < rrow["bootstrap_ci_high"]
    conv = res.comparisons[res.comparisons.metric == "converted"]
    holm = multipletests(conv.p_value, method="holm")[1]
    assert conv.p_adjusted.to_numpy() == pytest.approx(holm)
    bonf = analyze(df, "variant", "converted", correction="bonferroni").comparisons
    assert bonf.p_adjusted.to_numpy() == pytest.approx(np.minimum(1, 2 * bonf.p_value.to_numpy()))


def test_bootstrap_is_seeded() -> None:
    df = _data()
    a = analyze(df, "variant", "converted", revenue="revenue", n_boot=200, seed=7).comparisons
    b = analyze(df, "variant", "converted", revenue="revenue", n_boot=200, seed=7).comparisons
    pd.testing.assert_frame_equal(a, b)


def test_verdict_significant_and_not() -> None:
    rng = np.random.default_rng(3)
    n = 20_000
    v = rng.choice(["control", "B", "C"], size=n)
    y = rng.random(n) < np.where(v == "B", 0.07, 0.05)
    res = analyze(pd.DataFrame({"v": v, "y": y}), "v", "y")
    text = " ".join(res.verdicts)
    assert "Variant B raised y by" in text and "statistically significant after Holm correction for 2 comparisons" in text
    c_verdict = next(s for s in res.verdicts if s.startswith("Variant C"))
    assert "not enough evidence" in c_verdict and "per arm" in c_verdict


def test_bad_inputs_give_clear_errors() -> None:
    df = _data()
    with pytest.raises(SchemaError, match="not found"):
        analyze(df, "arm", "converted")
    with pytest.raises(InputError, match="only one variant"):
        analyze(df.assign(variant="x"), "variant", "converted")
    with pytest.raises(SchemaError, match="binary"):
        analyze(df, "variant", "revenue")
    with pytest.raises(InputError, match="control value 'nope'"):
        analyze(df, "variant", "converted", control="nope")
    with pytest.raises(InputError, match="missing"):
        analyze(df.assign(converted=df.converted.astype(float).where(df.index > 5)), "variant", "converted")
    with pytest.raises(InputError, match="correction"):
        analyze(df, "variant", "converted", correction="sidak-ish")
    cont = analyze(df, "variant", "revenue", continuous=["revenue"])
    assert set(cont.comparisons.test) == {"Welch t-test"}


def test_default_control_note_and_srm_note() -> None:
    df = pd.DataFrame({"arm": ["x"] * 600 + ["y"] * 400, "c": [0, 1] * 500})
    res = analyze(df, "arm", "c")
    assert res.control == "x" and any("first in sorted order" in n for n in res.notes)
    cli = analyze(df, "arm", "c", control_option="--control")
    assert any("pass --control to choose" in n for n in cli.notes)
    assert res.srm["mismatch"] and any("sample-ratio mismatch" in n for n in res.notes)


def test_analyze_stored_experiment_counts_only_events_after_exposure(any_store) -> None:  # noqa: ANN001
    store = any_store
    from persona.store.models import Event

    spec = ExperimentSpec("stored", {"control": 1, "treatment": 1})
    ids = [f"u{i}" for i in range(400)]
    arms = assign(spec, ids)
    t0 = pd.Timestamp("2026-03-01", tz="UTC")
    log_exposure(store, spec, arms, exposed_at=t0.to_pydatetime())
    rows = []
    for i, (c, v) in enumerate(arms.items()):
        if v == "treatment" and i % 3 == 0 or v == "control" and i % 6 == 0:
            rows.append(Event(event_id=f"e{i}", customer_id=c, event_type="purchase", ts=(t0 + pd.Timedelta(days=2)).to_pydatetime(), revenue=10.0))
        rows.append(Event(event_id=f"old{i}", customer_id=c, event_type="purchase", ts=(t0 - pd.Timedelta(days=2)).to_pydatetime(), revenue=99.0))
        if i % 10 == 0:
            rows.append(Event(event_id=f"late{i}", customer_id=c, event_type="purchase", ts=(t0 + pd.Timedelta(days=30)).to_pydatetime(), revenue=50.0))
    with store.session() as s:
        s.add_all(rows)
    res = analyze_experiment(store, "stored", window_days=14, n_boot=100)
    frame = res.extras["frame"]
    expect = {c: int((v == "treatment" and i % 3 == 0) or (v == "control" and i % 6 == 0)) for i, (c, v) in enumerate(arms.items())}
    assert frame.set_index("customer_id")["converted"].to_dict() == expect
    assert frame["revenue"].sum() == pytest.approx(10.0 * sum(expect.values()))
    assert res.control == "control" and set(res.comparisons.metric) == {"converted", "revenue"}
    assert res.to_dict()["experiment"] == "stored"


def test_constant_outcome_is_flagged_as_uninformative() -> None:
    df = pd.DataFrame({"v": ["control", "A"] * 200, "y": 0, "r": 0.0})
    res = analyze(df, "v", "y", revenue="r", n_boot=50)
    assert sum("carries no information" in n for n in res.notes) == 2
    assert not res.comparisons.significant.any()


def test_wilson_intervals_are_exact_at_no_and_all_successes():
    """0 of n → lower bound 0 and n of n → upper bound 1 exactly (not ±1e-19), as scalars for scalars; inside, the
    textbook Wilson interval (statsmodels' proportion_confint, method='wilson')."""
    import numpy as np
    from statsmodels.stats.proportion import proportion_confint

    from persona.experiments.inference import wilson_interval

    lo, hi = wilson_interval(0, 2562)
    assert lo == 0.0 and isinstance(lo, np.floating) and hi > 0
    lo, hi = wilson_interval(np.array([0, 3, 274]), np.array([274, 274, 274]))
    assert lo[0] == 0.0 and hi[2] == 1.0
    ref = proportion_confint(3, 274, alpha=0.05, method="wilson")
    assert np.allclose((lo[1], hi[1]), ref, rtol=1e-12)


def test_stored_experiment_window_must_be_positive(any_store) -> None:  # noqa: ANN001
    with pytest.raises(InputError, match="window_days must be a positive number of days"):
        analyze_experiment(any_store, "whatever", window_days=-5)
