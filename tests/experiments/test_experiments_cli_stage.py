"""The ``persona experiments`` commands and the EXPERIMENTS pipeline stage."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from persona.cli.main import app
from persona.experiments.assignment import ExperimentSpec, assign, log_exposure
from persona.pipeline.stage import RunContext
from persona.store.models import Customer, Event

runner = CliRunner()


def _csv(tmp_path, n: int = 3000):  # noqa: ANN001, ANN202
    rng = np.random.default_rng(0)
    v = rng.choice(["ctl", "new"], n)
    df = pd.DataFrame({"arm": v, "bought": (rng.random(n) < np.where(v == "new", 0.2, 0.1)).astype(int),
                       "spend": rng.exponential(20, n),
                       "ts": pd.date_range("2026-01-01", periods=n, freq="min", tz="UTC")})
    p = tmp_path / "exp.csv"
    df.to_csv(p, index=False)
    df.to_parquet(tmp_path / "exp.parquet")
    return p


def test_cli_analyze_data_file_json_and_html(tmp_path) -> None:  # noqa: ANN001
    p = _csv(tmp_path)
    r = runner.invoke(app, ["experiments", "analyze", "--data", str(p), "--treatment", "arm", "--outcome", "bought",
                            "--control", "ctl", "--revenue", "spend", "--time", "ts", "--json", "--html", str(tmp_path / "r.html")])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["control"] == "ctl" and {c["metric"] for c in out["comparisons"]} == {"bought", "spend"}
    assert out["verdicts"][0].startswith("Variant new raised bought by")
    seq = out["sequential"]
    assert seq["ci_low"] < seq["estimate"] < seq["ci_high"] and seq["reject"] and seq["customers"] == 3000
    page = (tmp_path / "r.html").read_text()
    assert "data:image/png;base64" in page and "Variant new" in page
    rp = runner.invoke(app, ["experiments", "analyze", "--data", str(tmp_path / "exp.parquet"), "--treatment", "arm",
                             "--outcome", "bought", "--control", "ctl"])
    assert rp.exit_code == 0 and "statistically significant" in rp.output


@pytest.mark.parametrize("args,message", [
    (["--treatment", "nope", "--outcome", "bought"], "not found"),
    (["--treatment", "arm", "--outcome", "spend"], "binary"),
    (["--treatment", "arm", "--outcome", "bought", "--control", "zzz"], "control value"),
])
def test_cli_bad_input_is_a_clear_error(tmp_path, args, message) -> None:  # noqa: ANN001
    p = _csv(tmp_path)
    r = runner.invoke(app, ["experiments", "analyze", "--data", str(p), *args])
    assert r.exit_code == 2 and message in r.output


def test_cli_power_json() -> None:
    r = runner.invoke(app, ["experiments", "power", "--baseline", "0.05", "--mde", "0.01", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["n_control"] == 8158
    t = runner.invoke(app, ["experiments", "power", "--baseline", "0.05", "--json"])
    assert len(json.loads(t.output)) == 5


def _shop(store, post_exposure_purchases: bool) -> None:  # noqa: ANN001
    t0 = pd.Timestamp("2026-05-01", tz="UTC")
    ids = [f"c{i}" for i in range(2000)]
    rng = np.random.default_rng(1)
    with store.session() as s:
        s.add_all([Customer(customer_id=c, customer_key=f"k{i}") for i, c in enumerate(ids)])
        s.add_all([Event(event_id=f"h{i}", customer_id=c, event_type="purchase", revenue=20.0,
                         ts=(t0 - pd.Timedelta(days=int(rng.integers(1, 60)))).to_pydatetime())
                   for i, c in enumerate(ids) if rng.random() < 0.3])
    spec = ExperimentSpec("campaign:demo", {"A": 1.0}, holdout=0.1)
    arms = assign(spec, ids)
    log_exposure(store, spec, arms, exposed_at=t0.to_pydatetime())
    if post_exposure_purchases:
        with store.session() as s:
            s.add_all([Event(event_id=f"p{i}", customer_id=c, event_type="purchase", revenue=30.0,
                             ts=(t0 + pd.Timedelta(days=3)).to_pydatetime())
                       for i, (c, v) in enumerate(arms.items()) if rng.random() < (0.15 if v == "A" else 0.08)])


@pytest.mark.parametrize("post", [False, True], ids=["awaiting", "analysed"])
def test_experiments_stage(workspace_shop, post) -> None:  # noqa: ANN001
    from persona.pipeline.stages.experiments import EXPERIMENTS

    store, settings = workspace_shop  # an initialised workspace: the CLI below refuses anything else

    _shop(store, post)
    res = EXPERIMENTS.run(RunContext(settings=settings, store=store, data_dir=None, progress=False))
    assert res.status == "ok"
    info = res.figures["experiments"]["campaign:demo"]
    assert info["exposed"] == 2000 and not info["srm_mismatch"]
    assert "power" in res.figures and 0 < res.figures["power"]["baseline_rate"] < 1
    titles = [s.title for s in res.sections]
    assert "Experiments: what this shop can detect" in titles and "Experiments: uplift modelling" in titles
    if post:
        assert info["status"] == "analysed" and any("Variant A" in v for v in info["verdicts"])
        sec = next(s for s in res.sections if s.title == "Experiment campaign:demo")
        assert len(sec.images) == 2  # intervals + cumulative lift
    else:
        assert info["status"].startswith("awaiting outcomes")
    r = runner.invoke(app, ["experiments", "list", "--workspace", str(settings.workspace), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)[0]["exposed"] == 2000
    a = runner.invoke(app, ["experiments", "analyze", "campaign:demo", "--workspace", str(settings.workspace), "--json"])
    assert a.exit_code == 0, a.output
    assert json.loads(a.output)["control"] == "holdout"


def test_without_a_workspace_experiments_say_how_to_make_one(tmp_path) -> None:  # noqa: ANN001
    for args in (["experiments", "list"], ["experiments", "analyze", "x"]):
        r = runner.invoke(app, [*args, "--workspace", str(tmp_path / "none")])
        assert r.exit_code == 2 and "no Persona workspace" in r.output
        assert not (tmp_path / "none").exists()


@pytest.mark.parametrize("days", ["-5", "0", "nan"])
def test_cli_window_days_must_be_positive(tmp_path, days) -> None:  # noqa: ANN001
    """--window-days -5 was accepted (exit 0); it is refused by name before the workspace is opened."""
    r = runner.invoke(app, ["experiments", "analyze", "some-experiment", f"--window-days={days}",
                            "--workspace", str(tmp_path / "none")], env={"PERSONA_WORKSPACE": ""})
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert "--window-days must be a positive number of days" in r.output, r.output


def test_cli_default_control_note_names_the_option(tmp_path) -> None:  # noqa: ANN001
    p = _csv(tmp_path)
    r = runner.invoke(app, ["experiments", "analyze", "--data", str(p), "--treatment", "arm", "--outcome", "bought", "--json"])
    assert r.exit_code == 0, r.output
    notes = json.loads(r.output)["notes"]
    assert any("pass --control to choose" in n for n in notes) and not any("control=" in n for n in notes)


def test_cli_too_few_customers_for_any_detectable_change_says_so_not_nan(tmp_path) -> None:  # noqa: ANN001
    p = tmp_path / "tiny.csv"
    pd.DataFrame({"arm": ["b", "b", "a", "a", "b", "a"], "c": [1, 0, 0, 1, 0, 0]}).to_csv(p, index=False)
    r = runner.invoke(app, ["experiments", "analyze", "--data", str(p), "--treatment", "arm", "--outcome", "c",
                            "--control", "a", "--json"])
    assert r.exit_code == 0, r.output
    verdict = json.loads(r.output)["verdicts"][0]
    assert "nan" not in verdict
    assert "With 3 per arm not even the largest possible change is detectable with 80% power" in verdict
