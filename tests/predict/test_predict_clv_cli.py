"""CLI: ``evaluate clv`` on CDNOW, ``predict clv|forecast|next-purchase`` and ``basket rules|together`` on workspaces."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from shared_data import shared_data
from typer.testing import CliRunner

from persona.cli.main import app

runner = CliRunner()


def _run(*args: str) -> tuple[int, str]:
    res = runner.invoke(app, list(args))
    return res.exit_code, res.output


def test_evaluate_clv_json_reports_each_model() -> None:
    sample = shared_data("cdnow", "CDNOW_sample.txt")
    code, out = _run("evaluate", "clv", str(sample), "--adapter", "cdnow", "--calibration-end", "1997-09-30", "--no-hybrid", "--json")
    assert code == 0, out
    rep = json.loads(out)
    bg = rep["models"]["bgnbd"]
    assert {"r", "alpha", "a", "b"} == set(bg["params"])
    assert round(bg["params"]["r"], 3) == 0.243 and round(bg["log_likelihood"], 1) == -9582.4
    assert bg["holdout_total_actual"] == 1882 and round(bg["holdout_rmse"], 3) == 1.608 and round(bg["holdout_total_predicted"]) == 1653
    assert set(rep["models"]["pareto_nbd"]["params"]) == {"r", "alpha", "s", "beta"}
    assert set(rep["models"]["gamma_gamma"]["params"]) == {"p", "q", "gamma"}
    for m in ("bgnbd", "pareto_nbd"):
        assert {"log_likelihood", "holdout_rmse", "holdout_mae", "holdout_total_predicted", "holdout_total_actual"} <= set(rep["models"][m])
    track = rep["tracking"]
    assert track["holdout_actual"] == 1882 and set(track["expected"]) == {"bgnbd", "pareto_nbd", "bgnbd_burst"}
    code, out = _run("evaluate", "clv", "/nonexistent.txt", "--adapter", "cdnow")
    assert code != 0


def test_evaluate_clv_prints_the_tracking_table() -> None:
    sample = shared_data("cdnow", "CDNOW_sample.txt")
    code, out = _run("evaluate", "clv", str(sample), "--adapter", "cdnow", "--no-hybrid")
    assert code == 0, out
    assert "Tracking" in out and "1997-10-01" in out and "holdout" in out


@pytest.fixture(scope="module")
def cdnow_ws(tmp_path_factory: pytest.TempPathFactory) -> str:
    sample = shared_data("cdnow", "CDNOW_sample.txt")
    ws = str(tmp_path_factory.mktemp("clvws") / "ws")
    assert _run("init", "--workspace", ws)[0] == 0
    code, out = _run("ingest", "--adapter", "cdnow", str(sample), "--workspace", ws)
    assert code == 0, out
    return ws


def test_predict_clv_stores_predictions(cdnow_ws: str) -> None:
    code, out = _run("predict", "clv", "--workspace", cdnow_ws, "--no-backtest", "--json")
    assert code == 0, out
    rep = json.loads(out)
    assert rep["n_customers"] == 2357 and rep["predictions"] == ["clv_12m", "p_alive", "expected_purchases_90d"]
    assert rep["clv_total"] > 0 and 0 < rep["p_alive_mean"] < 1
    from persona.config import load_settings
    from persona.registry import get_version, load
    from persona.store import open_store

    store = open_store(load_settings(cdnow_ws))
    try:
        n = store.read_frame("SELECT name, COUNT(*) AS n, MIN(model_version) AS lo, MAX(model_version) AS hi "
                             "FROM predictions GROUP BY name")
        mv, fitted = get_version(store, "clv"), load(store, "clv")
    finally:
        store.dispose()
    counts = dict(zip(n["name"], n["n"], strict=True))
    assert counts["clv_12m"] == counts["p_alive"] == counts["expected_purchases_90d"] == 2357
    assert (mv.kind, mv.status, rep["model_version"]) == ("clv", "active", mv.version)
    assert set(n.loc[n["name"].isin(rep["predictions"]), ["lo", "hi"]].to_numpy().ravel()) == {mv.version}
    assert set(fitted) == {"bgnbd", "gamma_gamma", "transactions"} and mv.params["transactions"] == type(fitted["transactions"]).__name__
    assert fitted["bgnbd"].params_ == mv.params["bgnbd"] == rep["bgnbd"]["params"]


def test_predict_forecast_and_next_purchase(cdnow_ws: str) -> None:
    code, out = _run("predict", "forecast", "--freq", "W", "--horizon", "8", "--workspace", cdnow_ws, "--json")
    assert code == 0, out
    rep = json.loads(out)
    assert len(rep["forecast"]) == 8 and {"mape", "smape", "smape_seasonal_naive", "coverage"} <= set(rep["backtest"])
    code, out = _run("predict", "forecast", "--freq", "Q", "--workspace", cdnow_ws)
    assert code != 0
    code, out = _run("predict", "forecast", "--freq", "W", "--horizon", "4", "--folds", "0", "--coverage", "--workspace", cdnow_ws, "--json")
    assert code == 0, out
    rep = json.loads(out)
    cov = rep["coverage_backtest"]
    assert rep["transform"] == "log" and cov["origins"] >= 10 and cov["horizon"] == 4
    assert 0.5 <= cov["coverage"]["0.8"] <= cov["coverage"]["0.95"] <= 1.0
    code, out = _run("predict", "forecast", "--intervals", "conformal", "--workspace", cdnow_ws)
    assert code != 0
    code, out = _run("predict", "next-purchase", "--window-days", "30", "--workspace", cdnow_ws, "--json")
    assert code == 0, out
    rep = json.loads(out)
    assert rep["n_customers"] == 2357 and 0.5 < rep["backtest"]["auc"] <= 1


def test_basket_cli_on_a_small_shop(tmp_path) -> None:  # noqa: ANN001
    ws = str(tmp_path / "ws")
    assert _run("init", "--workspace", ws)[0] == 0
    rows = []
    for i in range(60):
        items = ["tea", "cup"] if i % 3 else ["tea", "sugar", "cup"]
        if i % 5 == 0:
            items = ["bread"]
        for j, p in enumerate(items):
            rows.append({"event_id": f"e{i}-{j}", "customer_id": f"c{i % 20}", "product_id": p, "event_type": "purchase",
                         "timestamp": f"2024-01-{1 + i // 20:02d}T10:00:00Z", "session_id": f"s{i}", "revenue": 3.0})
    f = tmp_path / "events.csv"
    pd.DataFrame(rows).to_csv(f, index=False)
    code, out = _run("ingest", "events", str(f), "--workspace", ws)
    assert code == 0, out
    code, out = _run("basket", "rules", "--min-support", "0.1", "--min-confidence", "0.5", "--top", "3", "--workspace", ws, "--json")
    assert code == 0, out
    rep = json.loads(out)
    assert rep["orders"] == 60 and rep["rules"] > 0 and len(rep["top"]) <= 3
    assert {"antecedents", "consequents", "support", "confidence", "lift", "leverage", "conviction"} <= set(rep["top"][0])
    code, out = _run("basket", "together", "tea", "--workspace", ws, "--json")
    assert code == 0, out
    assert {r["product_id"] for r in json.loads(out)} >= {"cup", "sugar"}
    code, out = _run("basket", "together", "teaa", "--workspace", ws, "--json")  # a mistyped id is not "no rules"
    assert code == 3 and "product 'teaa' is not in this workspace" in out
    code, out = _run("basket", "together", "tea", "--min-support", "0.9", "--workspace", ws)
    assert code == 0 and "not bought together with another product often enough" in out


def test_evaluate_clv_user_mistakes_get_a_clear_message(tmp_path) -> None:  # noqa: ANN001
    good = tmp_path / "tx.csv"
    good.write_text("customer_id,date,revenue\na,2024-01-01,5\na,2024-02-01,5\nb,2024-01-10,3\n")
    bad = tmp_path / "bad.csv"
    bad.write_text("cust,day\na,2024-01-01\n")
    cases = [
        ((str(bad),), "lacks column(s)"),
        ((str(good), "--calibration-end", "2023-01-01"), "before the first transaction"),
        ((str(good), "--calibration-end", "2024-01-20", "--observation-end", "2024-01-10"), "is not after calibration end"),
        ((str(good), "--calibration-end", "2024-01-20", "--freq", "M"), "not supported"),
        ((str(good), "--adapter", "nope"), "no transactions reader"),
    ]
    for args, msg in cases:
        code, out = _run("evaluate", "clv", *args)
        assert code != 0, out
        assert msg in out and "Traceback" not in out, out


def test_clv_on_purchases_without_amounts_is_refused_and_the_stage_skips(tmp_path) -> None:  # noqa: ANN001
    # a click log whose "buy" events carry no price (as Taobao's): next purchase still works, CLV says why not
    ws = str(tmp_path / "ws")
    assert _run("init", "--workspace", ws)[0] == 0
    rows = [{"event_id": f"e{i}", "customer_id": f"c{i % 10}", "product_id": f"p{i % 7}", "event_type": "purchase",
             "timestamp": f"2024-{1 + i // 28:02d}-{1 + i % 28:02d}T10:00:00Z"} for i in range(120)]
    f = tmp_path / "events.csv"
    pd.DataFrame(rows).to_csv(f, index=False)
    assert _run("ingest", "events", str(f), "--workspace", ws)[0] == 0
    code, out = _run("predict", "clv", "--workspace", ws)
    assert code != 0 and "none of the workspace's 120 purchases carries an amount" in out and "Traceback" not in out

    from persona.cli._common import settings_for
    from persona.cli.profiles import open_workspace_store
    from persona.pipeline.stage import RunContext
    from persona.pipeline.stages.clv import CLV

    st = open_workspace_store(ws)
    try:
        res = CLV.run(RunContext(settings=settings_for(ws), store=st, data_dir=None, seed=1, progress=False))
    finally:
        st.dispose()
    assert res.status == "skipped" and "carries an amount" in res.message


def test_clv_stage_skips_with_the_reason_when_nobody_bought_twice(tmp_path) -> None:  # noqa: ANN001
    # one day of a shop's log (as the REES46 sample): purchases with amounts, but no repeat buyer to learn from
    from persona.cli._common import settings_for
    from persona.cli.profiles import open_workspace_store
    from persona.pipeline.stage import RunContext
    from persona.pipeline.stages.clv import CLV

    ws = str(tmp_path / "ws")
    assert _run("init", "--workspace", ws)[0] == 0
    rows = [{"event_id": f"e{i}", "customer_id": f"c{i}", "product_id": f"p{i % 7}", "event_type": "purchase",
             "timestamp": f"2024-03-01T{i % 24:02d}:00:00Z", "revenue": 10.0 + i} for i in range(40)]
    f = tmp_path / "events.csv"
    pd.DataFrame(rows).to_csv(f, index=False)
    assert _run("ingest", "events", str(f), "--workspace", ws)[0] == 0
    st = open_workspace_store(ws)
    try:
        res = CLV.run(RunContext(settings=settings_for(ws), store=st, data_dir=None, seed=1, progress=False))
    finally:
        st.dispose()
    assert res.status == "skipped" and "no time after it" in res.message, res.message
