"""Power and sample size against statsmodels and the textbook."""

from __future__ import annotations

import pytest
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import samplesize_proportions_2indep_onetail

from persona.errors import InputError
from persona.experiments.power import (
    mde_proportions,
    power_proportions,
    power_table,
    sample_size_means,
    sample_size_proportions,
)


@pytest.mark.parametrize("baseline,mde,ratio", [(0.05, 0.01, 1.0), (0.1, 0.02, 1.0), (0.02, 0.005, 2.0), (0.3, -0.05, 1.0)])
def test_sample_size_proportions_matches_statsmodels(baseline: float, mde: float, ratio: float) -> None:
    # statsmodels returns the treated arm's size with control = ratio_sm × treated; ours is the control's size
    n_treated = samplesize_proportions_2indep_onetail(mde, baseline, 0.8, ratio=1 / ratio, alpha=0.05, alternative="two-sided")
    ref = n_treated / ratio
    assert sample_size_proportions(baseline, mde, ratio=ratio) == pytest.approx(ref, abs=1.0)


def test_power_and_mde_are_inverse() -> None:
    n = sample_size_proportions(0.05, 0.01)
    assert n == 8158
    assert power_proportions(0.05, 0.01, n) == pytest.approx(0.8, abs=0.002)
    assert mde_proportions(0.05, n) == pytest.approx(0.01, rel=0.01)
    assert sample_size_proportions(0.05, 0.2, relative=True) == n


def test_sample_size_means_matches_statsmodels() -> None:
    n = sample_size_means(sd=10.0, mde=1.0)
    ref = NormalIndPower().solve_power(effect_size=0.1, alpha=0.05, power=0.8, ratio=1.0)
    assert n == pytest.approx(ref, abs=1.0)


def test_errors_and_table() -> None:
    with pytest.raises(InputError, match="baseline"):
        sample_size_proportions(1.2, 0.01)
    with pytest.raises(InputError):
        sample_size_proportions(0.05, 0.0)
    with pytest.raises(InputError, match="power"):
        sample_size_proportions(0.05, 0.01, power=1.5)
    rows = power_table(0.05)
    assert [r["mde_rel"] for r in rows] == pytest.approx([0.05, 0.1, 0.2, 0.3, 0.5])
    for bad in (2.0, 0.0, -0.1):  # not a rate: an error, not an empty table
        with pytest.raises(InputError, match="must be a rate in"):
            power_table(bad)
    assert all(a["n_control"] > b["n_control"] for a, b in zip(rows, rows[1:], strict=False))
