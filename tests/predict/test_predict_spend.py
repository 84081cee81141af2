"""Spend regression: the interpretable baseline, backtested, with coefficients, stored, via the CLI."""

from __future__ import annotations

import json

import pytest
from synthshop_predict import make_shop, write_to_store
from typer.testing import CliRunner

from persona.errors import InputError, NotFittedError
from persona.predict.backtest import FeatureCache
from persona.predict.runs import run_spend
from persona.predict.spend import SpendRegression
from persona.profiles import ShopData
from persona.store import Store


@pytest.fixture(scope="module")
def shop() -> ShopData:
    return make_shop(n_customers=500, seed=6)


def test_spend_regression_backtest_and_coefficients(shop: ShopData) -> None:
    cache = FeatureCache(shop)
    m = SpendRegression(horizon_days=90).fit(shop, cache=cache)
    rep = m.report()
    bt = rep["backtest"]
    assert bt["r2"] > 0.2 and bt["mae"] < bt["baseline"]["mae"]
    coefs = {r["feature"]: r["coefficient"] for r in rep["coefficients"]}
    assert set(coefs) == set(m.matrix_.columns_)
    top = rep["coefficients"][0]["feature"]
    assert coefs[top] != 0 and abs(coefs[top]) >= max(abs(v) for v in coefs.values()) - 1e-9
    # spend grows with what a customer has spent and how often they buy, all else standardized
    assert coefs["monetary"] + coefs["revenue_90d"] + coefs["frequency"] > 0
    pred = m.predict(shop, cache=cache)
    assert (pred["spend"] >= 0).all() and len(pred) == len(cache.at(m.plan_.as_of))
    with pytest.raises(NotFittedError):
        SpendRegression().coefficients()
    with pytest.raises(InputError):
        SpendRegression(n_train_cutoffs=0).fit(shop)


def test_run_spend_and_cli(store: Store, shop: ShopData, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    rep = run_spend(shop, store, horizon_days=90)
    got = store.read_frame("SELECT value FROM predictions WHERE name = 'predicted_spend'")
    assert len(got) == rep["scored"] and (got["value"] >= 0).all()

    from persona.cli.main import app
    from persona.config import load_settings

    monkeypatch.delenv("PERSONA_DATABASE_URL", raising=False)
    ws = tmp_path / "ws"
    runner = CliRunner()
    assert runner.invoke(app, ["init", "--workspace", str(ws)]).exit_code == 0
    st = Store(load_settings(ws))
    write_to_store(st, make_shop(n_customers=150, seed=8))
    st.dispose()
    res = runner.invoke(app, ["predict", "spend", "--workspace", str(ws), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert "r2" in out["backtest"] and out["coefficients"] and out["intercept"] is not None
    res = runner.invoke(app, ["predict", "spend", "--workspace", str(ws)])
    assert res.exit_code == 0 and "coefficients" in res.stdout
