"""The dashboard's SVG charts: numbers written as people read them (:mod:`persona.display`)."""

from __future__ import annotations

from persona.web.charts import bars, intervals, line


def test_charts_print_counts_in_full():
    svg = bars(["view", "click"], [81200.0, 35550.0])
    assert ">81,200<" in svg and ">35,550<" in svg and "e+0" not in svg
    assert ">12,000<" in line(["d1", "d2"], {"view": [12000.0, 3.0]})
    assert "+1,500 [+200, +2,800]" in intervals(["revenue"], [1500.0], [200.0], [2800.0])
