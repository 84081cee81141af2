"""Parity of contact rates under a budget (``budget.parity``): spec, optimizer, plan, CLI and the fairness audit."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from shop_fixtures import seed_shop
from sqlalchemy import text
from typer.testing import CliRunner

from persona.campaigns.parity import enforce_parity, parity_lines
from persona.campaigns.planner import _greedy, plan_campaign
from persona.campaigns.spec import parse_spec
from persona.campaigns.worker import Worker
from persona.cli.main import app
from persona.errors import InputError
from persona.fairness.workspace import audit_workspace

runner = CliRunner()
N = 120  # c00000…c00059 born 2000 (25-34 in 2026), c00060…c00119 born 1958 (65+)
BASE = ("groups:\n  - {name: all, strategy: new_arrivals}\nchannels: [outbox]\nfrequency_cap: null\n"
        "budget: {total: 15, cost_per_message: 0.25, margin: 0.5")


def _spec(name: str, parity: str | None = "{attribute: age, min_ratio: 0.8}", total: float = 15) -> str:
    body = BASE.replace("total: 15", f"total: {total}")
    return f"name: {name}\n{body}" + (f", parity: {parity}}}\n" if parity else "}\n")


def _aged_shop(store, settings) -> dict[str, float]:  # noqa: ANN001
    """Customers in two age bands; the uplift model predicts far less for the older band."""
    ids = seed_shop(store, settings, N)
    rng = np.random.default_rng(7)
    uplift = {c: float(rng.uniform(0.05, 0.10) if i < N // 2 else rng.uniform(0.002, 0.012)) for i, c in enumerate(ids)}
    with store.session() as s:
        s.execute(text("UPDATE customers SET birth_year = :y WHERE customer_id = :c"),
                  [{"y": 2000 if i < N // 2 else 1958, "c": c} for i, c in enumerate(ids)])
    now = datetime.now(UTC)
    store.bulk_insert("predictions", [{"customer_id": c, "name": "uplift", "value": u, "updated_at": now} for c, u in uplift.items()])
    return uplift


def _contacted(store, campaign: str) -> set[str]:  # noqa: ANN001
    rows = store.read_frame("SELECT customer_id FROM messages WHERE campaign = :c AND status IN ('planned', 'sent')", {"c": campaign})
    return set(rows["customer_id"])


# --- the spec -----------------------------------------------------------------------------------------------------
def test_spec_accepts_parity_with_the_audits_defaults() -> None:
    spec = parse_spec(_spec("p", "{attribute: age}"))
    assert spec.budget is not None and spec.budget.parity is not None
    assert (spec.budget.parity.attribute, spec.budget.parity.min_ratio, spec.budget.parity.min_group) == ("age", 0.8, 30)


@pytest.mark.parametrize(("parity", "message"), [
    ("{attribute: height}", "unknown attribute 'height' for parity; allowed: gender, age, country"),
    ("{attribute: age, min_ratio: 0}", "min_ratio must lie in (0, 1], got 0"),
    ("{attribute: age, min_ratio: 1.5}", "min_ratio must lie in (0, 1], got 1.5"),
    ("{attribute: age, min_group: 1}", "min_group must be at least 2"),
    ("{attribute: age, ratio: 0.8}", "budget.parity.ratio: unknown field"),
])
def test_spec_refuses_bad_parity(parity: str, message: str) -> None:
    with pytest.raises(InputError) as e:
        parse_spec(_spec("p", parity), "c.yaml")
    assert message in str(e.value) and "c.yaml:" in str(e.value)


def test_parity_without_a_budget_is_refused() -> None:
    with pytest.raises(InputError, match="`parity` applies to the budget's selection only"):
        parse_spec("name: p\ngroups:\n  - {name: a, strategy: coupon}\nparity: {attribute: age}\n")
    with pytest.raises(InputError, match="budget: `parity` constrains who the budget selects, so it needs the budget's `total`"):
        parse_spec("name: p\ngroups:\n  - {name: a, strategy: coupon}\nbudget: {parity: {attribute: age}}\n")


# --- the optimizer on arrays ----------------------------------------------------------------------------------------
def _brute(value: np.ndarray, cost: np.ndarray, labels: np.ndarray, budget: float, ratio: float, min_group: int) -> float:
    """The best total value of any selection within the budget that contacts someone in a judged group and whose
    judged groups pass the bound (-inf when only contacting nobody passes)."""
    n = len(value)
    masks = ((np.arange(2**n)[:, None] >> np.arange(n)) & 1).astype(bool)
    ok = masks @ cost <= budget + 1e-9
    rates = []
    for g in np.unique(labels):
        m = labels == g
        if m.sum() >= min_group:
            rates.append(masks[:, m].mean(axis=1))
    r = np.array(rates)
    top = r.max(axis=0)
    ok &= (top > 0) & (r.min(axis=0) / np.where(top > 0, top, 1) >= ratio)
    return float((masks @ value)[ok].max()) if ok.any() else -np.inf


@pytest.mark.parametrize("seed", range(16))
def test_equal_costs_reach_the_brute_force_optimum(seed: int) -> None:
    rng = np.random.default_rng(seed)
    sizes = (6, 6) if seed % 2 else (7, 5)
    labels = np.array(["a"] * sizes[0] + ["b"] * sizes[1], dtype=object)
    value = np.where(labels == "a", rng.uniform(1, 3, 12), rng.uniform(-0.2, 1.2, 12))
    cost = np.ones(12)
    budget = float(rng.integers(2, 9))
    keep0 = _greedy(value, cost, budget)
    keep, res = enforce_parity(keep0, value, cost, labels, budget=budget, min_ratio=0.8, min_group=3)
    best = _brute(value, cost, labels, budget, 0.8, 3)
    assert cost[keep].sum() <= budget
    if res.feasible:
        assert value[keep].sum() == pytest.approx(best)
    else:  # only contacting nobody would pass: the budget's own selection is kept and reported
        assert best == -np.inf and (keep == keep0).all() and "cannot pay" in (res.reason or "")


def test_the_vectorised_greedy_is_the_one_by_one_loop() -> None:
    rng = np.random.default_rng(11)
    for _ in range(20):
        value = rng.normal(1, 1, 300)
        cost = rng.choice([0.0, 0.25, 0.5, 1.7], 300)
        total = float(rng.uniform(5, 80))
        order = np.argsort(-(value / np.clip(cost, 1e-6, None)), kind="stable")
        want, spent = np.zeros(300, dtype=bool), 0.0
        for i in order:
            if value[i] <= 0:
                break
            if spent + cost[i] > total:
                continue
            spent += cost[i]
            want[i] = True
        assert (_greedy(value, cost, total) == want).all()


def test_a_budget_too_small_for_every_group_is_reported() -> None:
    labels = np.array(["a"] * 40 + ["b"] * 40, dtype=object)
    value = np.r_[np.full(40, 2.0), np.full(40, 0.5)]
    cost = np.ones(80)
    keep0 = _greedy(value, cost, 1.0)  # one message: one group contacted, the other cannot be
    keep, res = enforce_parity(keep0, value, cost, labels, budget=1.0, min_ratio=0.8, min_group=30)
    assert not res.feasible and "cannot pay for contacting every judged group" in (res.reason or "")
    assert (keep == keep0).all() and res.cost_after <= 1.0
    assert parity_lines(res.to_dict())[1].startswith("parity not reached: the budget of 1 cannot pay")


def test_unknown_and_small_groups_are_not_judged_and_arrays_are_checked() -> None:
    labels = np.array(["a"] * 40 + ["b"] * 5 + ["unknown"] * 40, dtype=object)
    value = np.r_[np.full(40, 2.0), np.full(45, 0.5)]
    keep, res = enforce_parity(value > 1, value, np.ones(85), labels, budget=40.0, min_ratio=0.8, min_group=30)
    assert res.feasible and res.swapped_in == 0 and (keep == (value > 1)).all()
    assert {g["group"]: g["judged"] for g in res.groups} == {"a": True, "unknown": False, "b": False}
    assert next(g for g in res.groups if g["group"] == "b")["rate_after"] is None  # small groups' rates are not shown
    with pytest.raises(InputError, match="one entry per customer"):
        enforce_parity(keep[:3], value, np.ones(85), labels, budget=1.0)
    with pytest.raises(InputError, match=r"min_ratio must lie in \(0, 1\]"):
        enforce_parity(keep, value, np.ones(85), labels, budget=1.0, min_ratio=0)


# --- planning on a real store --------------------------------------------------------------------------------------
def test_without_parity_the_older_band_is_left_out_with_it_every_band_gets_four_fifths(shop) -> None:  # noqa: ANN001
    store, settings = shop
    uplift = _aged_shop(store, settings)
    young, old = [f"c{i:05d}" for i in range(N // 2)], [f"c{i:05d}" for i in range(N // 2, N)]

    plan_campaign(store, settings, parse_spec(_spec("plain", None)))
    plain = _contacted(store, "plain")
    assert len(plain) == 60 and plain == set(young)  # 15 / 0.25: the greedy spends everything on the young band

    res = plan_campaign(store, settings, parse_spec(_spec("fair")))
    p = res.parity
    assert p is not None and p["attribute"] == "age" and p["feasible"] is True and p["reason"] is None
    fair = _contacted(store, "fair")
    n_young, n_old = len(fair & set(young)), len(fair & set(old))
    assert n_old / 60 >= 0.8 * (n_young / 60) and n_old > 0
    assert len(fair) * 0.25 <= 15 and p["cost_after"] <= 15
    rates = {g["group"]: g for g in p["groups"]}
    assert rates["65+"]["rate_before"] == 0.0 and rates["25-34"]["rate_before"] == 1.0
    assert rates["65+"]["contacted_after"] == n_old and rates["25-34"]["contacted_after"] == n_young
    assert p["ratio_before"] == 0.0 and p["ratio_after"] >= 0.8
    assert p["swapped_in"] == n_old and p["swapped_out"] == 60 - n_young
    assert p["profit_after"] < p["profit_before"] and p["cost_of_parity"] > 0
    # the older customers swapped in are the best of their band, the younger ones dropped the worst of theirs
    by_uplift = sorted(old, key=lambda c: -uplift[c])
    assert fair & set(old) == set(by_uplift[:n_old])
    assert fair & set(young) == set(sorted(young, key=lambda c: -uplift[c])[:n_young])
    assert p["added_unprofitable"] > 0  # some older customers are worth less than the message: added for parity only
    # the least profit: the same counts cannot be bettered by another split of 60 messages that passes the bound
    best = max(y for y in range(61) if (60 - y) / 60 >= 0.8 * y / 60)
    assert (n_young, n_old) == (best, 60 - best)

    # the post-hoc audit now finds the contact rates passing the four-fifths rule by age; without parity they fail
    Worker(store, settings).run("fair")
    rep = audit_workspace(store, ["age"])
    contacted = {it["campaign"]: it for it in rep.parts["campaigns"] if it["measure"].startswith("contacted")}
    assert contacted["fair"]["summary"]["four_fifths"] is True
    assert contacted["plain"]["summary"]["four_fifths"] is False


def test_replanning_the_same_run_gives_the_same_result(shop) -> None:  # noqa: ANN001
    store, settings = shop
    _aged_shop(store, settings)
    spec = parse_spec(_spec("fair"))
    first = plan_campaign(store, settings, spec, run_key="fair:1")
    rows = store.count("messages")
    again = plan_campaign(store, settings, spec, run_key="fair:1")
    assert again.created is False and again.parity == first.parity and again.counts == first.counts
    assert store.count("messages") == rows
    other = plan_campaign(store, settings, spec, run_key="fair:2")  # a new run of the same data decides alike
    assert other.parity == first.parity


def test_a_budget_too_small_is_reported_by_the_plan(shop) -> None:  # noqa: ANN001
    store, settings = shop
    _aged_shop(store, settings)
    res = plan_campaign(store, settings, parse_spec(_spec("tiny", total=0.25)))
    assert res.parity is not None and res.parity["feasible"] is False and "raise the budget" in res.parity["reason"]
    assert res.counts["planned"] == 1


def test_an_attribute_the_customers_lack_is_refused(shop) -> None:  # noqa: ANN001
    store, settings = shop
    seed_shop(store, settings, 10)  # no birth years
    with pytest.raises(InputError, match="budget.parity cannot balance by 'age'"):
        plan_campaign(store, settings, parse_spec(_spec("p")))


def test_cli_plan_json_and_human_output(shop, tmp_path: Path) -> None:  # noqa: ANN001
    store, settings = shop
    _aged_shop(store, settings)
    f = tmp_path / "fair.yaml"
    f.write_text(_spec("fair"))
    env = {"PERSONA_WORKSPACE": "", "PERSONA_GLOBAL_HOLDOUT": "0"}
    r = runner.invoke(app, ["campaign", "plan", str(f), "--workspace", str(settings.workspace), "--json"], env=env)
    assert r.exit_code == 0, r.output
    p = json.loads(r.stdout)["parity"]
    assert set(p) >= {"attribute", "min_ratio", "min_group", "groups", "ratio_before", "ratio_after", "swapped_in", "swapped_out",
                      "cost_before", "cost_after", "budget", "profit_before", "profit_after", "cost_of_parity", "feasible", "reason"}
    assert set(p["groups"][0]) == {"group", "audience", "judged", "contacted_before", "rate_before", "contacted_after", "rate_after"}
    r = runner.invoke(app, ["campaign", "plan", str(f), "--workspace", str(settings.workspace)], env=env)  # the same run again
    assert r.exit_code == 0, r.output
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("parity")]
    assert len(lines) == 1 and "parity by age" in lines[0] and "swapped in" in lines[0] and "cost of parity" in lines[0]
    f.write_text(_spec("bad", "{attribute: age, min_ratio: 2}"))
    r = runner.invoke(app, ["campaign", "validate", str(f), "--workspace", str(settings.workspace)], env=env)
    assert r.exit_code == 2 and "min_ratio must lie in (0, 1]" in r.output


def test_the_campaign_stage_shows_parity_when_the_spec_has_it(shop, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    from persona.pipeline.stage import RunContext
    from persona.pipeline.stages import campaigns as stage

    store, settings = shop
    _aged_shop(store, settings)
    plain = stage.demo_spec([])
    res = stage.run(RunContext(settings=settings, store=store, data_dir=None, progress=False))
    assert "parity" not in res.figures and "parity by" not in res.sections[0].html
    monkeypatch.setattr(stage, "demo_spec", lambda segs: {**plain, "experiment": None,
                                                           "budget": {"total": 15, "cost_per_message": 0.25, "margin": 0.5,
                                                                      "parity": {"attribute": "age"}}})
    store.bulk_insert("events", [{"event_id": "later", "customer_id": "c00001", "product_id": "p1", "event_type": "view",
                                  "ts": datetime(2026, 11, 21, tzinfo=UTC)}])  # a new day: a new run
    res = stage.run(RunContext(settings=settings, store=store, data_dir=None, progress=False))
    assert res.figures["parity"]["attribute"] == "age" and res.figures["parity"]["feasible"] is True
    assert "parity by age" in res.sections[0].html and "<th>age</th>" in res.sections[0].html


def test_the_run_report_section_shows_the_parity_block() -> None:
    from persona.pipeline.stages.campaigns import parity_html

    labels = np.array(["a"] * 40 + ["b"] * 40, dtype=object)
    value = np.r_[np.full(40, 2.0), np.full(40, 0.5)]
    keep, res = enforce_parity(value > 1, value, np.ones(80), labels, budget=40.0)
    out = parity_html(res.to_dict())
    assert "parity by group" in out and "<td>a</td><td>40</td><td>40</td><td>1.0</td>" in out
    assert pd.Series(keep).sum() == 40 and res.feasible
