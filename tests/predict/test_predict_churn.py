"""Churn: a time-based backtest that never looks ahead, calibrated probabilities, explanations, storage, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from synthshop_predict import make_shop, write_to_store
from typer.testing import CliRunner

from persona.errors import InputError, NotFittedError
from persona.jsonvalues import plain
from persona.predict.backtest import FeatureCache, label_churn, plan_backtest
from persona.predict.outcome import ChurnModel
from persona.predict.runs import run_churn
from persona.profiles import ShopData
from persona.registry import get_version, list_models, load
from persona.store import Store


@pytest.fixture(scope="module")
def shop() -> ShopData:
    return make_shop(n_customers=500, seed=3)


@pytest.fixture(scope="module")
def fitted(shop: ShopData) -> tuple[ChurnModel, FeatureCache]:
    cache = FeatureCache(shop)
    return ChurnModel(horizon_days=90, seed=0).fit(shop, cache=cache), cache


def test_plan_never_trains_on_the_future(shop: ShopData) -> None:
    plan = plan_backtest(shop, 90, n_train=3, step_days=30)
    h = pd.Timedelta(days=90)
    assert plan.test == plan.as_of - h
    assert len(plan.train) == 3 and all(t + h <= plan.test for t in plan.train)
    assert all(t + h <= plan.as_of for t in plan.final)
    with pytest.raises(InputError, match="too few"):
        plan_backtest(shop, 400)
    with pytest.raises(InputError, match="horizon"):
        plan_backtest(shop, 0)


def test_labels_only_see_their_window(shop: ShopData) -> None:
    t = pd.Timestamp("2024-01-01", tz="UTC")
    ids = pd.Index(shop.customers["customer_id"])
    y = label_churn(shop, t, t + pd.Timedelta(days=90), ids)
    buys = shop.events[(shop.events["event_type"] == "purchase") & (shop.events["ts"] > t) & (shop.events["ts"] <= t + pd.Timedelta(days=90))]
    assert set(y[y == 0].index) == set(buys["customer_id"])
    # future events beyond the window change nothing
    later = ShopData(events=shop.events[shop.events["ts"] <= t + pd.Timedelta(days=90)], customers=shop.customers, products=shop.products, reviews=None)
    pd.testing.assert_series_equal(y, label_churn(later, t, t + pd.Timedelta(days=90), ids))


def test_backtest_quality_and_calibration(fitted: tuple[ChurnModel, FeatureCache]) -> None:
    model, _ = fitted
    bt = model.report()["backtest"]
    assert bt["auc"] > 0.85 and bt["pr_auc"] > bt["base_rate"]
    assert bt["brier"] < bt["base_rate"] * (1 - bt["base_rate"])  # beats always predicting the base rate
    assert bt["lift_top_decile"] >= 1.0
    assert bt["calibration"] in ("isotonic", "sigmoid")
    imp = model.report()["importance"]
    assert abs(sum(r["importance"] for r in model.importance_) - 1) < 1e-3
    assert {"recency_days", "tenure_days", "orders_90d", "events_30d"} & {r["feature"] for r in imp[:4]}


def test_predictions_with_explanations(shop: ShopData, fitted: tuple[ChurnModel, FeatureCache]) -> None:
    model, cache = fitted
    pred = model.predict(shop, cache=cache)
    buyers = cache.at(model.plan_.as_of)
    assert set(pred.index) == set(buyers.index[buyers["frequency"] > 0])
    assert pred["probability"].between(0, 1).all()
    top = pred.sort_values("probability").iloc[-1]["factors"]
    assert 1 <= len(top) <= 3 and all(f["text"].endswith("churn risk") for f in top)
    # calibrated: on the test cutoff, the mean probability is close to the observed churn rate
    bt = model.report()["backtest"]
    t = model.plan_.test
    p_test = model.predict(shop, as_of=t, cache=cache)["probability"]
    assert abs(p_test.mean() - bt["base_rate"]) < 0.1
    with pytest.raises(NotFittedError):
        ChurnModel().predict(shop)


def test_run_churn_stores_predictions_and_registers_model(store: Store, shop: ShopData) -> None:
    rep = run_churn(shop, store, horizon_days=60, top=5)
    assert rep["model_version"] == 1 and len(rep["top_customers"]) == 5
    got = store.read_frame("SELECT customer_id, value, details FROM predictions WHERE name = 'churn_probability'")
    assert len(got) == rep["scored"] and got["value"].between(0, 1).all()
    details = got["details"].iloc[0]
    details = json.loads(details) if isinstance(details, str) else details
    assert "top_factors" in details
    mv = get_version(store, "churn_probability")
    assert (mv.version, mv.kind, mv.status, mv.params) == (1, "churn", "active", {"horizon_days": 60})
    assert mv.metrics == plain(rep["backtest"]) and Path(mv.artifact_path).parent.name == "churn_probability"
    assert load(store, "churn_probability").horizon_days == 60
    again = run_churn(shop, store, horizon_days=30, top=5)  # a retrain: the new version is the active one
    assert again["model_version"] == 2
    assert [(m.version, m.status) for m in list_models(store, "churn_probability")] == [(1, "retired"), (2, "active")]
    assert load(store, "churn_probability").horizon_days == 30 and load(store, "churn_probability", 1).horizon_days == 60
    assert set(store.read_frame("SELECT model_version FROM predictions WHERE name = 'churn_probability'")["model_version"]) == {2}


def test_cli_predict_churn(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    from persona.cli.main import app
    from persona.config import load_settings

    monkeypatch.delenv("PERSONA_DATABASE_URL", raising=False)
    ws = tmp_path / "ws"
    runner = CliRunner()
    assert runner.invoke(app, ["init", "--workspace", str(ws)]).exit_code == 0
    st = Store(load_settings(ws))
    write_to_store(st, make_shop(n_customers=200, seed=5))
    st.dispose()
    res = runner.invoke(app, ["predict", "churn", "--horizon-days", "60", "--top", "3", "--workspace", str(ws), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["horizon_days"] == 60 and 0.5 < out["backtest"]["auc"] <= 1.0 and len(out["top_customers"]) == 3
    res = runner.invoke(app, ["predict", "churn", "--horizon-days", "5000", "--workspace", str(ws)])
    assert res.exit_code != 0
    assert np.isfinite(out["backtest"]["brier"])


def test_calibration_never_inverts_the_ranking() -> None:
    from sklearn.metrics import roc_auc_score

    from persona.predict.classifier import CalibratedGBM

    rng = np.random.default_rng(0)
    for n, method in ((120, "none"), (2000, "sigmoid"), (6000, "isotonic")):  # calibration split: too small, small, large
        x = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
        y = pd.Series((x["a"] + rng.normal(size=n) > 0).astype(int))
        ids = pd.Series([f"c{i % (n // 3)}" for i in range(n)])  # three rows per customer
        m = CalibratedGBM(seed=0).fit(x, y, ids)
        xt = pd.DataFrame({"a": rng.normal(size=2000), "b": rng.normal(size=2000)})
        yt = (xt["a"] + rng.normal(size=2000) > 0).astype(int)
        raw, cal = roc_auc_score(yt, m.raw_proba(xt)), roc_auc_score(yt, m.predict_proba(xt))
        assert cal > 0.7 and cal >= raw - 0.02
        assert m.calibration_used_ == method
