"""Spark's FP-growth finds the local engine's itemsets, so rules and "bought together" are the same."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from persona.basket import BasketRules
from persona.basket.baskets import baskets_from_events
from persona.engines import count_orders
from persona.engines.spark.basket import spark_baskets
from persona.errors import InputError


@pytest.fixture(scope="module")
def purchases() -> pd.DataFrame:
    """Orders with planted pairs and triples: 600 customers, some sessions, some day-grouped."""
    rng = np.random.default_rng(3)
    rows = []
    for c in range(600):
        for d in range(int(rng.integers(1, 4))):
            items = {f"p{int(i)}" for i in rng.integers(0, 40, size=int(rng.integers(1, 5)))}
            if rng.random() < 0.3:
                items |= {"p1", "p2"}
            if rng.random() < 0.1:
                items |= {"p3", "p4", "p5"}
            session = f"s{c}-{d}" if d % 2 else None
            for it in items:
                rows.append({"customer_id": f"c{c}", "product_id": it, "session_id": session,
                             "ts": pd.Timestamp("2026-01-01", tz="UTC") + pd.Timedelta(days=d, hours=int(rng.integers(0, 23)))})
    return pd.DataFrame(rows)


def _sets(fi):
    frame = fi.to_frame()
    return {(frozenset(s), round(float(v), 12)) for s, v in zip(frame["itemsets"], frame["support"], strict=True)}


def _rules(model):
    r = model.rules(top=None)
    return {(frozenset(a), frozenset(b), round(float(c), 12), round(float(lift), 12))
            for a, b, c, lift in zip(r["antecedents"], r["consequents"], r["confidence"], r["lift"], strict=True)}


@pytest.mark.parametrize("by", ["session", "day"])
def test_spark_itemsets_and_rules_equal_the_local_engine(spark, purchases, by):
    lists = baskets_from_events(purchases, by=by)
    sdf = spark_baskets(spark.createDataFrame(purchases.astype({"session_id": object})), by=by)
    assert count_orders(sdf) == count_orders(lists)
    local = BasketRules(min_support=0.01, min_confidence=0.1).fit(lists)
    on_spark = BasketRules(min_support=0.01, min_confidence=0.1, engine="spark").fit(sdf)
    assert on_spark.itemsets_.n_transactions == local.itemsets_.n_transactions
    assert on_spark.itemsets_.min_count == local.itemsets_.min_count
    assert len(local.itemsets_) > 40 and any(len(s) == 3 for s, _ in _sets(local.itemsets_))
    assert _sets(on_spark.itemsets_) == _sets(local.itemsets_)
    assert _rules(on_spark) == _rules(local)
    pd.testing.assert_frame_equal(on_spark.frequently_bought_together("p1", 5), local.frequently_bought_together("p1", 5))


def test_support_threshold_and_max_len_match_exactly(spark):
    """Supports that sit exactly on the threshold, and itemsets longer than max_len, are treated as locally."""
    baskets = [["a", "b", "c"]] * 3 + [["a", "b"]] * 2 + [["c"]] * 5  # a,b: 5/10; a,b,c: 3/10
    for sup in (0.3, 0.5, 0.51):
        for max_len in (None, 2):
            local = BasketRules(min_support=sup, max_len=max_len).fit(baskets)
            on_spark = BasketRules(min_support=sup, max_len=max_len, engine="spark").fit(baskets)
            assert _sets(on_spark.itemsets_) == _sets(local.itemsets_), (sup, max_len)


def test_spark_engine_refuses_bad_input(spark):
    with pytest.raises(InputError, match="min_support"):
        BasketRules(min_support=0, engine="spark").fit([["a"]])
    with pytest.raises(InputError, match="no transactions"):
        BasketRules(engine="spark").fit([])
    with pytest.raises(InputError, match="more than 2 frequent itemsets"):
        BasketRules(min_support=0.1, max_itemsets=2, engine="spark").fit([["a", "b", "c"]] * 4)


def test_basket_cli_on_the_spark_engine(spark, workspace_shop, monkeypatch):
    """`PERSONA_ENGINE=spark persona basket rules --json` prints what the local engine prints."""
    from shop_fixtures import seed_shop
    from typer.testing import CliRunner

    from persona.cli.main import app

    store, settings = workspace_shop
    seed_shop(store, settings, 80)
    rng = np.random.default_rng(5)
    rows = []
    for i in range(400):
        items = {f"p{int(j)}" for j in rng.integers(0, 20, size=3)} | ({"p1", "p2"} if i % 3 == 0 else set())
        rows += [{"event_id": f"x{i}-{p}", "customer_id": f"c{i % 80:05d}", "product_id": p, "event_type": "purchase",
                  "ts": pd.Timestamp("2026-03-01", tz="UTC").to_pydatetime() + pd.Timedelta(days=i).to_pytimedelta(),
                  "quantity": 1.0, "revenue": 10.0} for p in items]
    store.bulk_insert("events", rows)
    out = {}
    for engine in ("local", "spark"):
        monkeypatch.setenv("PERSONA_ENGINE", engine)
        res = CliRunner().invoke(app, ["basket", "rules", "--workspace", str(settings.workspace), "--min-support", "0.02",
                                       "--json"])
        assert res.exit_code == 0, res.output
        out[engine] = json.loads(res.output)
    assert out["spark"].pop("engine") == "spark" and out["local"].pop("engine") == "local"
    assert out["spark"]["itemsets"] == out["local"]["itemsets"] > 20
    assert out["spark"]["rules"] == out["local"]["rules"]
    key = lambda r: (r["antecedents"], r["consequents"])  # noqa: E731
    assert sorted(out["spark"].pop("top"), key=key) == sorted(out["local"].pop("top"), key=key)
    assert out["spark"] == out["local"]


def test_a_spark_frame_without_items_is_refused(spark):
    from persona.errors import SchemaError

    frame = spark.createDataFrame([(["a", "b"],)], "products array<string>")
    with pytest.raises(SchemaError, match="needs an 'items' array column"):
        BasketRules(engine="spark").fit(frame)
