"""Purchase propensity, overall and per top-level category, backtested and stored."""

from __future__ import annotations

import pytest
from synthshop_predict import make_shop

from persona.predict.backtest import FeatureCache
from persona.predict.outcome import PropensityModel, slug
from persona.predict.runs import run_propensity, top_categories
from persona.profiles import ShopData
from persona.store import Store


@pytest.fixture(scope="module")
def shop() -> ShopData:
    return make_shop(n_customers=500, seed=4)


def test_overall_and_category_models_beat_chance(shop: ShopData) -> None:
    cache = FeatureCache(shop)
    overall = PropensityModel(horizon_days=30, seed=0).fit(shop, cache=cache)
    bt = overall.report()["backtest"]
    assert bt["auc"] > 0.85 and bt["lift_top_decile"] > 2
    assert overall.name == "purchase_propensity"
    grocery = PropensityModel(horizon_days=30, category="Grocery", seed=0).fit(shop, cache=cache)
    assert grocery.name == "propensity_grocery"
    gb = grocery.report()["backtest"]
    assert gb["auc"] > 0.8 and gb["base_rate"] < bt["base_rate"]
    # each customer prefers one category: their share of it must matter to the category model
    assert "share_Grocery" in [r["feature"] for r in grocery.report()["importance"][:5]]
    pred = grocery.predict(shop, cache=cache, explain=20)
    assert pred["probability"].between(0, 1).all() and len(pred) == len(cache.at(grocery.plan_.as_of))
    assert sum(bool(f) for f in pred["factors"]) == 20


def test_run_propensity_stores_every_model(store: Store, shop: ShopData) -> None:
    rep = run_propensity(shop, store, horizon_days=30, n_categories=3, top=4)
    assert top_categories(shop, 3) == list(rep["categories"])
    names = set(store.read_frame("SELECT DISTINCT name FROM predictions")["name"])
    assert names == {"purchase_propensity", *(f"propensity_{slug(c)}" for c in rep["categories"])}
    assert all(r["backtest"]["auc"] > 0.7 for r in rep["categories"].values())
    assert slug("Baby & Kids") == "baby_kids"


@pytest.mark.parametrize("days,shown", [(89.6, "89.6"), (89.96, "89.9"), (45.0, "45.0")])
def test_too_little_history_message_does_not_contradict_itself(shop: ShopData, days: float, shown: str) -> None:
    """89.6 days were shown as "90 days … too few … (needs at least 90)": the span is floored to one decimal."""
    import pandas as pd

    from persona.errors import InputError
    from persona.predict.backtest import plan_backtest

    as_of = shop.first_event_ts + pd.Timedelta(days=days)
    with pytest.raises(InputError) as err:
        plan_backtest(shop, 30, as_of=as_of)
    assert err.value.message.startswith(f"{shown} days of events are too few for a 30-day backtest (needs at least 90)")
