"""The dashboard's SVG charts: numbers written as people read them."""

from __future__ import annotations

import pytest

from persona.web.charts import bars, intervals, line, number


@pytest.mark.parametrize(("value", "text"), [
    (81200, "81,200"), (35550.0, "35,550"), (237625.4, "237,625"), (7472, "7,472"), (731, "731"), (0, "0"),
    (0.42713, "0.427"), (12.5, "12.5"), (31.98, "31.98"), (153.274, "153.27"), (2.0001, "2"), (-0.031, "-0.031"),
    (-12.346, "-12.35"), (0.00001234, "1.23e-05"), (1.08e-19, "0"),
    (float("nan"), "n/a"), (None, "–"),
])
def test_numbers_are_never_in_scientific_notation_where_people_count(value, text):
    assert number(value) == text


def test_effects_carry_their_sign():
    assert (number(0.012, sign=True), number(-0.5, sign=True), number(0, sign=True)) == ("+0.012", "-0.5", "0")


def test_charts_print_counts_in_full():
    svg = bars(["view", "click"], [81200.0, 35550.0])
    assert ">81,200<" in svg and ">35,550<" in svg and "e+0" not in svg
    assert ">12,000<" in line(["d1", "d2"], {"view": [12000.0, 3.0]})
    assert "+1,500 [+200, +2,800]" in intervals(["revenue"], [1500.0], [200.0], [2800.0])
