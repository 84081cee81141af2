"""Pipeline stages ``clv`` and ``basket`` on a small synthetic shop: predictions stored, report sections with plots."""

from __future__ import annotations

import pytest
from synthshop_predict import make_shop, write_to_store

from persona.pipeline.stage import RunContext


@pytest.mark.slow
def test_clv_and_basket_stages(store, settings) -> None:  # noqa: ANN001
    from persona.pipeline.stages.basket import BASKET
    from persona.pipeline.stages.clv import CLV

    empty = RunContext(settings=settings, store=store, data_dir=None, seed=1, progress=False)
    assert CLV.run(empty).status == "skipped"
    write_to_store(store, make_shop(n_customers=250, days=400, seed=3))
    ctx = RunContext(settings=settings, store=store, data_dir=None, seed=1, progress=False)
    res = CLV.run(ctx)
    assert res.status == "ok", res.message
    assert {"bgnbd", "gamma_gamma", "backtest", "forecast_backtest", "next_purchase_backtest"} <= set(res.figures)
    assert res.figures["backtest"]["bgnbd"]["rmse"] < res.figures["backtest"]["zero"]["rmse"]
    assert all(sec.images for sec in res.sections) and len(res.sections) == 2
    assert len(res.sections[0].images) == 2  # the CLV distributions and the backtest's tracking curves
    names = set(store.read_frame("SELECT DISTINCT name FROM predictions")["name"])
    assert {"clv_12m", "p_alive", "expected_purchases_90d"} <= names
    res = BASKET.run(ctx)
    assert res.status == "ok", res.message
    assert res.figures["orders"] > 0 and res.figures["itemsets"] > 0
    assert "Basket rules" in res.sections[0].title
