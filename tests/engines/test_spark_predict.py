"""The predict and CLV stages on the Spark engine give the local engine's features, labels, metrics and CLV fits."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from spark_engine_checks import _load, assert_same_features

from persona.config import load_settings
from persona.engines.spark.clv import SparkPurchases
from persona.engines.spark.features import spark_features_at
from persona.engines.spark.shop import SparkShop
from persona.predict.backtest import (
    FeatureCache,
    label_category,
    label_churn,
    label_purchase,
    label_spend,
    plan_backtest,
    window_purchases,
)
from persona.predict.clv_purchases import PurchaseLog
from persona.profiles.features import compute_features
from persona.profiles.source import PURCHASE_TYPES

RTOL = 1e-6


@pytest.fixture(scope="module")
def spark_shop(spark, demo_data) -> SparkShop:
    return SparkShop.from_shop_data(spark, demo_data)


@pytest.fixture(scope="module")
def demo_store(demo_files, tmp_path_factory):
    from persona.store import open_store
    from persona.store.workspace import init_workspace

    settings = load_settings(tmp_path_factory.mktemp("ws"), progress=False, engine="local")
    init_workspace(settings)
    store = open_store(settings)
    _load(store, demo_files)
    yield store
    store.dispose()


def assert_close(a: Any, b: Any, path: str = "", rtol: float = RTOL) -> None:
    """Nested reports equal, numbers to ``rtol``."""
    if isinstance(b, dict):
        assert isinstance(a, dict) and set(a) == set(b), (path, sorted(a), sorted(b))
        for k in b:
            assert_close(a[k], b[k], f"{path}.{k}", rtol)
    elif isinstance(b, list | tuple):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_close(x, y, f"{path}[{i}]", rtol)
    elif isinstance(b, float | np.floating) and not isinstance(b, bool):
        assert (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=rtol, abs_tol=1e-9), (path, a, b)
    else:
        assert a == b, (path, a, b)


def test_features_and_labels_per_cutoff_equal_the_local_engine(demo_data, spark_shop):
    assert spark_shop.first_event_ts == demo_data.first_event_ts
    plan = plan_backtest(demo_data, 30)
    assert plan_backtest(spark_shop, 30) == plan and len(plan.train) >= 2
    local, remote = FeatureCache(demo_data), FeatureCache(spark_shop)
    category = "Home"
    labelers = {"purchase": label_purchase, "churn": label_churn, "spend": label_spend, category: label_category(category)}
    for t in (plan.train[0], plan.test):
        assert_same_features(local.at(t), remote.at(t))
        ids = local.at(t).index
        end = t + pd.Timedelta(days=30)
        for name, lab in labelers.items():
            a, b = lab(spark_shop, t, end, ids), lab(demo_data, t, end, ids)
            pd.testing.assert_series_equal(a, b, check_dtype=False, rtol=RTOL, obj=name)
        assert 0 < label_purchase(demo_data, t, end, ids).mean() < 1  # both classes occur
        assert label_category(category)(demo_data, t, end, ids).sum() > 0


def test_a_cutoff_on_an_event_counts_it_in_the_features_and_not_in_the_label(demo_data, spark_shop):
    """Features take events up to and including t, labels the purchases after t: the same on both engines."""
    buys = demo_data.events[demo_data.events["event_type"].isin(PURCHASE_TYPES)]
    t = buys["ts"].iloc[len(buys) // 2]
    assert_same_features(FeatureCache(demo_data).at(t), FeatureCache(spark_shop).at(t))
    end = t + pd.Timedelta(days=10)
    a = window_purchases(spark_shop, t, end).sort_values(["customer_id", "top_category"]).reset_index(drop=True)
    b = window_purchases(demo_data, t, end).sort_values(["customer_id", "top_category"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b, check_dtype=False, rtol=RTOL)
    on_t = set(buys.loc[buys["ts"] == t, "customer_id"]) - set(buys.loc[(buys["ts"] > t) & (buys["ts"] <= end), "customer_id"])
    assert on_t and not on_t & set(a["customer_id"])  # a purchase at t is history, not the label


def test_features_of_many_cutoffs_in_one_pass_equal_the_local_engine(demo_data, spark_shop):
    """One Spark pass for several cutoffs (one on a purchase, one before any event: customers known only by their
    creation) gives each cutoff the local engine's features, also for given customers."""
    buys = demo_data.events[demo_data.events["event_type"].isin(PURCHASE_TYPES)]
    cutoffs = [buys["ts"].iloc[len(buys) // 3], demo_data.first_event_ts - pd.Timedelta(days=1), demo_data.last_event_ts]
    for t, frame in zip(cutoffs, spark_features_at(spark_shop, cutoffs), strict=True):
        assert_same_features(compute_features(demo_data, t), frame)
    some = sorted(buys["customer_id"].unique())[:25]
    for t, frame in zip(cutoffs, spark_features_at(spark_shop, cutoffs, some), strict=True):
        assert_same_features(compute_features(demo_data, t, pd.Index(some, name="customer_id")), frame)


def test_warming_the_backtests_fills_every_cutoff_and_label_window_as_the_local_engine(demo_data, spark_shop):
    plans = [plan_backtest(spark_shop, h) for h in (30, 45)]
    remote = FeatureCache(spark_shop)
    remote.warm(plans)
    cutoffs = {t for p in plans for t in p.cutoffs}
    assert len(cutoffs) >= 6 and set(remote._cache) == cutoffs
    assert {w for p in plans for w in p.label_windows} <= set(spark_shop.__dict__["_window_cache"])
    local = FeatureCache(demo_data)
    for t in sorted(cutoffs):
        assert_same_features(local.at(t), remote.at(t))
    for p in plans:
        for start, end in p.label_windows:
            a = window_purchases(spark_shop, start, end).sort_values(["customer_id", "top_category"]).reset_index(drop=True)
            b = window_purchases(demo_data, start, end).sort_values(["customer_id", "top_category"]).reset_index(drop=True)
            pd.testing.assert_frame_equal(a, b, check_dtype=False, rtol=RTOL)


def test_backtest_metrics_equal_the_local_engine(demo_data, spark_shop):
    from persona.predict.runs import run_churn, run_propensity, run_spend

    reports = {}
    for name, data in (("local", demo_data), ("spark", spark_shop)):
        cache = FeatureCache(data)
        churn = run_churn(data, None, horizon_days=30, seed=1, cache=cache, top=3)
        prop = run_propensity(data, None, horizon_days=30, seed=1, cache=cache, top=3, n_categories=2, explain_categories=20)
        spend = run_spend(data, None, horizon_days=30, seed=1, cache=cache, top=3)
        reports[name] = {"churn": churn["backtest"], "propensity": prop["backtest"], "spend": spend["backtest"],
                         "categories": {c: r.get("backtest") for c, r in prop["categories"].items()},
                         "importance": churn["importance"], "coefficients": spend["coefficients"],
                         "top": [r["customer_id"] for r in churn["top_customers"]]}
    assert reports["local"]["churn"]["auc"] > 0.5 and len(reports["local"]["categories"]) == 2
    assert_close(reports["spark"], reports["local"])


def test_clv_summaries_and_revenue_equal_the_local_engine(spark, demo_store):
    local, remote = PurchaseLog.from_store(demo_store), SparkPurchases.from_store(spark, demo_store)
    assert remote.count() == local.count() > 100 and remote.days() == local.days()
    first, end = local.days()
    cut = (first + (end - first) * 2 / 3).normalize()
    for kw in ({"calibration_end": end}, {"calibration_end": cut, "observation_end": end}, {"calibration_end": cut, "freq": "D"}):
        a, b = remote.summary(**kw), local.summary(**kw)
        assert (b["frequency"] > 0).sum() > 10
        pd.testing.assert_frame_equal(a, b, check_dtype=False, rtol=RTOL, obj=str(kw))
    for freq in ("D", "W"):
        pd.testing.assert_series_equal(remote.revenue_series(freq), local.revenue_series(freq), rtol=RTOL, check_freq=False)


def test_clv_fit_equals_the_local_engine(spark, demo_store):
    from persona.predict.clv_workspace import run_clv

    reps = {}
    for name, purchases in (("local", PurchaseLog.from_store(demo_store)), ("spark", SparkPurchases.from_store(spark, demo_store))):
        rep = run_clv(demo_store, seed=1, top=5, purchases=purchases)
        rep.pop("_arrays")
        reps[name] = {k: rep[k] for k in ("bgnbd", "gamma_gamma", "n_customers", "n_purchases", "clv_total", "p_alive_mean",
                                          "transaction_model", "expected_purchases_90d_total", "top_customers", "model_selection")}
        reps[name]["backtest"] = {m: {k: v for k, v in r.items() if k != "fit_seconds"} for m, r in rep["backtest"]["models"].items()}
        reps[name]["tracking"] = rep["backtest"]["tracking"]
        assert rep["engine"] == name
    assert reps["local"]["bgnbd"]["params"]["r"] > 0
    # Spark sums a customer's revenue in another order (monetary values differ by ~1e-14); Gamma-Gamma's likelihood
    # is nearly flat along p and gamma, so its optimiser stops ~1e-6 apart there. Everything else agrees to 1e-6.
    gg = {n: r.pop("gamma_gamma") for n, r in reps.items()}
    assert_close(gg["spark"], gg["local"], rtol=1e-5)
    assert_close(reps["spark"], reps["local"])


def test_persona_run_predict_and_clv_on_the_spark_engine(spark, demo_files, tmp_path, monkeypatch):
    """`PERSONA_ENGINE=spark persona run` completes the predict and clv stages and says Spark ran them."""
    from typer.testing import CliRunner

    from persona.cli.main import app

    data_dir = next(iter(demo_files.values())).parent
    monkeypatch.setenv("PERSONA_ENGINE", "spark")
    monkeypatch.setenv("PERSONA_WORKSPACE", "")
    args = ["run", "--data", str(data_dir), "--workspace", str(tmp_path / "ws"), "--json", "--no-progress"]
    for stage in ("ingest", "profiles", "predict", "clv"):
        args += ["--only", stage]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    stages = json.loads(res.stdout)["stages"]
    for name in ("profiles", "predict", "clv"):
        assert stages[name]["status"] == "ok", (name, stages[name]["message"])
        assert stages[name]["figures"]["engine"] == "spark"
    assert stages["predict"]["figures"]["scored"]["churn"] > 0 and stages["clv"]["figures"]["clv_total"] > 0
