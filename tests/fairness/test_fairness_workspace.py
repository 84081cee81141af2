"""The fairness audit on a real workspace: campaigns planned and sent, stored scores, backtests, recommendation lists."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from shop_fixtures import seed_shop
from typer.testing import CliRunner

from persona.campaigns.planner import plan_campaign
from persona.campaigns.spec import parse_spec
from persona.campaigns.worker import Worker
from persona.cli.main import app
from persona.config import Settings
from persona.errors import InputError
from persona.fairness import exposure_fairness, prediction_fairness
from persona.fairness.workspace import audit_workspace
from persona.store import Store

runner = CliRunner()
N = 80  # customers c00000…: even → FR, odd → DE (seed_shop)


@pytest.fixture
def shop(workspace_shop: tuple[Store, Settings]) -> tuple[Store, Settings]:
    return workspace_shop


def _run(store: Store, settings: Settings, spec: str) -> None:
    s = parse_spec(spec)
    plan_campaign(store, settings, s)
    Worker(store, settings).run(s.name)


def _item(report, part: str, measure: str, **where):  # noqa: ANN001, ANN202
    return next(it for it in report.parts[part] if it["measure"].startswith(measure) and all(it.get(k) == v for k, v in where.items()))


def test_campaign_audience_and_contacts_by_country(shop) -> None:  # noqa: ANN001
    store, settings = shop
    seed_shop(store, settings, N, opted_out={i for i in range(N) if i % 4 == 0})  # half of FR opted out
    _run(store, settings, "name: de-only\naudience: {where: \"country == 'DE'\"}\ngroups:\n  - {name: a, strategy: coupon, offer: {discount_pct: 10}}\nchannels: [outbox]\n")
    _run(store, settings, "name: everyone\ngroups:\n  - {name: a, strategy: recommendations, items: 2}\nchannels: [outbox]\n"
                          "experiment: {holdout: 0.25, variants: {A: 1.0}}\n")
    rep = audit_workspace(store)
    assert rep.attributes == ["country"]  # what seed_shop's customers carry (language is not audited by default)
    aud = _item(rep, "campaigns", "in the audience", campaign="de-only")
    rates = {r["group"]: r["value"] for r in aud["groups"]}
    assert rates == {"DE": 1.0, "FR": 0.0}
    assert aud["summary"]["impact_ratio"] == 0.0 and aud["summary"]["four_fifths"] is False and aud["summary"]["significant"]
    contacted = _item(rep, "campaigns", "contacted", campaign="everyone")
    rates = {r["group"]: r["value"] for r in contacted["groups"]}
    assert rates["DE"] == 1.0 and 0.3 < rates["FR"] < 0.7
    held = int(store.read_frame("SELECT COUNT(*) AS n FROM messages WHERE campaign = 'everyone' AND status = 'holdout'")["n"].iloc[0])
    assert held > 5 and sum(r["n"] for r in contacted["groups"]) == N - held  # the random holdout is no suppression
    assert "FR is" in contacted["sentence"] and "points below" in contacted["sentence"]
    # de-only contacted every DE customer it selected (nothing to compare); its coupon went to all of them
    assert not any(it.get("campaign") == "de-only" and it["measure"].startswith("contacted") for it in rep.parts["campaigns"])
    disc = _item(rep, "campaigns", "offered a discount", campaign="de-only")
    assert [(r["group"], r["n"]) for r in disc["groups"]] == [("DE", 40)]
    assert len(rep.findings) == 2 and all("significant difference" in f for f in rep.findings)
    assert "<table>" in rep.html() and "Significant gaps" in rep.html()
    # only the campaigns asked for, and a clear error for an unknown one
    assert {it["campaign"] for it in audit_workspace(store, campaigns=["everyone"]).parts["campaigns"]} == {"everyone"}
    with pytest.raises(InputError, match="campaign 'nope' has no run") as e:
        audit_workspace(store, campaigns=["nope"])
    assert "de-only, everyone" in (e.value.hint or "")


def test_campaign_plan_warns_of_a_significant_gap(shop, tmp_path: Path) -> None:  # noqa: ANN001
    store, settings = shop
    seed_shop(store, settings, N)
    f = tmp_path / "de.yaml"
    f.write_text("name: de-only\naudience: {where: \"country == 'DE'\"}\ngroups:\n  - {name: a, strategy: coupon}\nchannels: [outbox]\n")
    r = runner.invoke(app, ["campaign", "plan", str(f), "--workspace", str(settings.workspace), "--json"], env={"PERSONA_WORKSPACE": ""})
    assert r.exit_code == 0, r.output
    fair = json.loads(r.stdout)["fairness"]
    assert len(fair) == 1 and fair[0].startswith("in the audience, by country:") and "FR is 100.0 points below" in fair[0]
    f2 = tmp_path / "all.yaml"
    f2.write_text("name: all\ngroups:\n  - {name: a, strategy: coupon}\nchannels: [outbox]\n")
    r = runner.invoke(app, ["campaign", "plan", str(f2), "--workspace", str(settings.workspace)], env={"PERSONA_WORKSPACE": ""})
    assert r.exit_code == 0 and "fairness:" not in r.stdout


def test_stored_scores_by_group_and_the_cli(shop) -> None:  # noqa: ANN001
    store, settings = shop
    ids = seed_shop(store, settings, N)
    rng = np.random.default_rng(3)
    now = datetime.now(UTC)
    store.bulk_insert("predictions", [
        {"customer_id": c, "name": "churn_probability", "value": float(0.6 + 0.2 * rng.random() if i % 2 else 0.2 * rng.random()),
         "updated_at": now} for i, c in enumerate(ids)])
    env = {"PERSONA_WORKSPACE": ""}
    r = runner.invoke(app, ["fairness", "--workspace", str(settings.workspace), "--json"], env=env)
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["attributes"] == ["country"] and out["min_group"] == 30
    mean = next(it for it in out["predictions"] if it["measure"] == "mean score")
    assert mean["model"] == "churn_probability" and mean["summary"]["highest"] == "DE" and mean["summary"]["significant"]
    top = next(it for it in out["predictions"] if it["measure"].startswith("in the top"))
    assert {g["group"]: g["value"] for g in top["groups"]}["FR"] == 0.0
    assert any("churn_probability: mean score, by country" in f for f in out["findings"])
    r = runner.invoke(app, ["fairness", "--workspace", str(settings.workspace)], env=env)
    assert r.exit_code == 0 and "significant gap" in r.stdout
    # user mistakes: one line, exit code 2
    for args, msg in ((["--by", "gender"], "no 'gender' with two or more known values"),
                      (["--by", "height"], "--by names unknown attribute(s) 'height'"),
                      (["--top-share", "0"], "--top-share must lie strictly between 0 and 1"),
                      (["--min-group", "1"], "--min-group must be at least 2"),
                      (["--campaign", "x"], "campaign 'x' has no run")):
        r = runner.invoke(app, ["fairness", *args, "--workspace", str(settings.workspace)], env=env)
        assert r.exit_code == 2 and msg in r.output, (args, r.output)


def test_a_fresh_workspace_has_nothing_to_group_by(shop) -> None:  # noqa: ANN001
    _, settings = shop
    r = runner.invoke(app, ["fairness", "--workspace", str(settings.workspace)], env={"PERSONA_WORKSPACE": ""})
    assert r.exit_code == 2 and "no attribute to group them by" in r.output


def test_a_model_blind_to_one_group_is_caught_by_the_backtest_audit() -> None:
    rng = np.random.default_rng(4)
    n = 600
    ids = [f"u{i}" for i in range(n)]
    group = pd.Series(np.where(np.arange(n) < 300, "a", "b"), index=ids)
    y = rng.integers(0, 2, n)
    # informative for a, noise for b, and over-predicting for b
    p = np.where(group.to_numpy() == "a", 0.5 * y + 0.5 * rng.random(n), 0.5 + 0.5 * rng.random(n))
    out = prediction_fairness(pd.DataFrame({"customer_id": ids, "y": y, "p": p}), group.to_frame("gender"))
    caught, calib, auc = out
    assert caught.summary["lowest"] == "b" and caught.summary["significant"] and caught.summary["four_fifths"] is False
    assert calib.summary["highest"] == "b" and "b" in calib.summary["significant"]
    aucs = {r["group"]: r["auc"] for r in auc["groups"]}
    assert aucs["a"] > 0.85 and 0.35 < aucs["b"] < 0.65
    with pytest.raises(InputError, match="top_share"):
        prediction_fairness(pd.DataFrame({"customer_id": ids, "y": y, "p": p}), group.to_frame("gender"), top_share=1.5)


def test_exposure_finds_a_group_pushed_to_best_sellers() -> None:
    users = [f"u{i}" for i in range(100)]
    groups = pd.DataFrame({"age": ["under 25"] * 50 + ["65+"] * 50}, index=users)
    pop = pd.Series(np.linspace(0.01, 1.0, 100), index=[f"i{j}" for j in range(100)])
    rng = np.random.default_rng(5)
    recs = pd.DataFrame([(u, f"i{j}") for k, u in enumerate(users)
                         for j in (rng.choice(range(90, 100), 10, replace=False) if k < 50 else rng.choice(range(100), 10, replace=False))],
                        columns=["user_id", "item_id"])
    (c,) = exposure_fairness(recs, pop, groups)
    t = {r["group"]: r["value"] for r in c.to_dict()["groups"]}
    assert t["under 25"] > 0.9 and t["65+"] < 0.6 and c.summary["significant"]
    assert exposure_fairness(recs.iloc[:0], pop, groups) == []


def test_both_audits_on_sqlite_and_postgresql(any_store) -> None:  # noqa: ANN001
    from persona.privacy.report import privacy_report
    from persona.store.workspace import init_workspace

    store = any_store
    settings = store.settings.model_copy(update={"global_holdout": 0.0, "backoff_seconds": 0.0})
    init_workspace(settings)
    seed_shop(store, settings, N, opted_out={i for i in range(N) if i % 4 == 0})
    _run(store, settings, "name: everyone\ngroups:\n  - {name: a, strategy: coupon, offer: {discount_pct: 10}}\nchannels: [outbox]\n")
    rep = audit_workspace(store)
    contacted = _item(rep, "campaigns", "contacted", campaign="everyone")
    assert {r["group"]: r["value"] for r in contacted["groups"]} == {"DE": 1.0, "FR": 0.5}
    disc = _item(rep, "campaigns", "offered a discount", campaign="everyone")
    # only those contacted got the offer; the payload JSON is read alike on both databases
    assert {r["group"]: r["value"] for r in disc["groups"]} == {"DE": 1.0, "FR": 0.5}
    priv = privacy_report(store, settings)
    assert priv["pii_at_rest"]["email"] == {"stored": N, "encrypted": True, "checked": N, "unreadable": 0}
    assert priv["erasure"]["complete"] is True and priv["consent"]["marketing"]["email"] == N - N // 4


@pytest.mark.parametrize("by", ["", " , "])
def test_an_empty_by_is_refused_before_any_work(tmp_path: Path, by: str) -> None:
    """--by '' used to say "the customers carry no attribute"; it is refused by name, before the workspace is opened."""
    r = runner.invoke(app, ["fairness", "--by", by, "--workspace", str(tmp_path / "none")], env={"PERSONA_WORKSPACE": ""})
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert "--by is empty: name attributes such as gender, age" in r.output, r.output


def test_customer_groups_refuses_an_empty_attribute_list() -> None:
    from persona.fairness.groups import customer_groups

    customers = pd.DataFrame({"customer_id": ["a", "b"], "gender": ["f", "m"]})
    with pytest.raises(InputError, match="no attribute named"):
        customer_groups(customers, [])
