"""The Hillstrom per-arm table equals direct pandas computation from the file, to the last digit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from shared_data import shared_data
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint, proportions_ztest

from persona.experiments.analysis import analyze


@pytest.fixture(scope="module")
def hill() -> pd.DataFrame:
    return pd.read_csv(shared_data("hillstrom", "hillstrom.csv"))


def test_hillstrom_table_matches_groupby(hill: pd.DataFrame) -> None:
    res = analyze(hill, "segment", ["visit", "conversion"], control="No E-Mail", revenue="spend", n_boot=200)
    g = hill.groupby("segment")
    assert len(hill) == 64_000
    arms = res.arms.set_index(["metric", "variant"])
    for metric in ("visit", "conversion", "spend"):
        direct = g[metric].agg(["count", "sum", "mean"])
        for seg, row in direct.iterrows():
            mine = arms.loc[(metric, seg)]
            assert mine["n"] == row["count"]
            assert mine["value"] == row["mean"]  # exact, not approx
            if metric != "spend":
                assert mine["successes"] == row["sum"]
                lo, hi = proportion_confint(row["sum"], row["count"], method="wilson")
                assert (mine["ci_low"], mine["ci_high"]) == pytest.approx((lo, hi), rel=1e-12)
            else:
                assert mine["total"] == row["sum"]
                assert mine["sd"] == pytest.approx(g[metric].std()[seg], rel=1e-12)
    ctrl = hill[hill.segment == "No E-Mail"]
    means = g[["visit", "conversion", "spend"]].mean()
    cmp = res.comparisons.set_index(["metric", "variant"])
    for seg in ("Mens E-Mail", "Womens E-Mail"):
        arm = hill[hill.segment == seg]
        for metric in ("visit", "conversion"):
            r = cmp.loc[(metric, seg)]
            assert r["difference"] == means.loc[seg, metric] - means.loc["No E-Mail", metric]
            z, p = proportions_ztest([arm[metric].sum(), ctrl[metric].sum()], [len(arm), len(ctrl)])
            assert r["statistic"] == pytest.approx(z, rel=1e-12) and r["p_value"] == pytest.approx(p, rel=1e-9, abs=1e-300)
            lo, hi = confint_proportions_2indep(arm[metric].sum(), len(arm), ctrl[metric].sum(), len(ctrl), method="newcomb")
            assert (r["ci_low"], r["ci_high"]) == pytest.approx((lo, hi), rel=1e-12)
        t = stats.ttest_ind(arm.spend, ctrl.spend, equal_var=False)
        r = cmp.loc[("spend", seg)]
        assert r["difference"] == means.loc[seg, "spend"] - means.loc["No E-Mail", "spend"]
        assert r["difference"] == pytest.approx(arm.spend.mean() - ctrl.spend.mean(), rel=1e-13)
        assert r["p_value"] == pytest.approx(t.pvalue, rel=1e-9)
        assert (r["ci_low"], r["ci_high"]) == pytest.approx(tuple(t.confidence_interval()), rel=1e-9)
    # the published first table of every uplift tutorial
    visit = arms.xs("visit")["value"].round(4).to_dict()
    assert visit == {"Mens E-Mail": 0.1828, "No E-Mail": 0.1062, "Womens E-Mail": 0.1514}
    assert np.all(res.comparisons.significant)
    assert not res.srm["mismatch"]
