from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from shop_fixtures import seed_shop
from typer.testing import CliRunner

from persona.campaigns.planner import save_campaign
from persona.campaigns.scheduler import tick
from persona.campaigns.spec import parse_spec
from persona.cli.main import app

runner = CliRunner()


def _cli(settings, *args: str):  # noqa: ANN001, ANN202
    return runner.invoke(app, [*args, "--workspace", str(settings.workspace)], env={"PERSONA_GLOBAL_HOLDOUT": "0"})


def test_validate_preview_plan_send_status(shop, tmp_path: Path) -> None:  # noqa: ANN001
    store, settings = shop
    seed_shop(store, settings, 12)
    f = tmp_path / "c.yaml"
    f.write_text("name: welcome\ngroups:\n  - {name: all, strategy: recommendations, items: 2}\nchannels: [outbox]\n")
    r = _cli(settings, "campaign", "validate", str(f), "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["valid"] is True
    r = _cli(settings, "campaign", "preview", str(f), "--customer", "c00001", "--json")
    assert r.exit_code == 0, r.output
    pv = json.loads(r.stdout)
    assert pv["to"] == "c00001@example.org" and pv["subject"].startswith("Name1, Welcome!") and len(pv["items"]) == 2
    assert "/t/unsub/" in pv["text"] and "<html" in pv["html"]
    r = _cli(settings, "campaign", "plan", str(f), "--json")
    assert json.loads(r.stdout)["counts"]["planned"] == 12
    # the preview of a planned customer is exactly the planned message
    r2 = _cli(settings, "campaign", "preview", "welcome", "--customer", "c00001", "--json")
    assert json.loads(r2.stdout)["items"] == pv["items"]
    r = _cli(settings, "campaign", "send", "welcome", "--json")
    assert json.loads(r.stdout)["sent"] == 12
    r = _cli(settings, "campaign", "status", "welcome", "--json")
    st = json.loads(r.stdout)
    assert st["sent"] == 12 and st["planned"] == 12
    r = _cli(settings, "campaign", "list")
    assert r.exit_code == 0 and "welcome" in r.stdout


def test_user_mistakes_give_one_line_and_an_exit_code(shop, tmp_path: Path) -> None:  # noqa: ANN001
    store, settings = shop
    seed_shop(store, settings, 3)
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ngroups:\n  - {name: a, strategy: coupon\n")
    r = _cli(settings, "campaign", "validate", str(bad))
    assert r.exit_code == 2 and "malformed YAML" in r.output
    seg = tmp_path / "seg.yaml"
    seg.write_text("name: x\naudience: {segments: [rfm:champions]}\ngroups:\n  - {name: a, strategy: coupon}\n")
    r = _cli(settings, "campaign", "validate", str(seg))
    assert r.exit_code == 2 and "persona segments build --method rfm" in r.output
    pred = tmp_path / "pred.yaml"
    pred.write_text("name: x\naudience: {where: 'churn_probability > 0.5'}\ngroups:\n  - {name: a, strategy: coupon}\n")
    r = _cli(settings, "campaign", "validate", str(pred))
    assert r.exit_code == 2 and "persona predict churn" in r.output
    r = _cli(settings, "campaign", "validate", str(tmp_path / "missing.yaml"))
    assert r.exit_code == 2 and "does not exist" in r.output
    r = _cli(settings, "campaign", "status", "nope")
    assert r.exit_code == 3 and "no campaign 'nope'" in r.output
    r = _cli(settings, "campaign", "send", "nope")  # a mistyped name is not "sent 0"
    assert r.exit_code == 3 and "no campaign 'nope'" in r.output
    good = tmp_path / "g.yaml"
    good.write_text("name: g\ngroups:\n  - {name: a, strategy: coupon}\nchannels: [outbox]\n")
    r = _cli(settings, "campaign", "preview", str(good), "--customer", "ghost")
    assert r.exit_code == 3 and "no customer 'ghost'" in r.output


def test_cart_abandonment_trigger_fires_once_per_cart(shop) -> None:  # noqa: ANN001
    store, settings = shop
    seed_shop(store, settings, 5)
    now = datetime.now(UTC)
    store.bulk_insert("events", [
        {"event_id": "a1", "customer_id": "c00001", "product_id": "p7", "event_type": "add_to_cart", "ts": now - timedelta(hours=5)},
        {"event_id": "a2", "customer_id": "c00002", "product_id": "p8", "event_type": "add_to_cart", "ts": now - timedelta(hours=5)},
        {"event_id": "a3", "customer_id": "c00002", "product_id": "p8", "event_type": "purchase", "ts": now - timedelta(hours=4)},
        {"event_id": "a4", "customer_id": "c00003", "product_id": "p9", "event_type": "add_to_cart", "ts": now - timedelta(hours=1)},
    ])
    spec = parse_spec(
        "name: cart\ngroups:\n  - {name: all, strategy: cart_abandonment}\nchannels: [outbox]\n"
        "schedule: {type: trigger, trigger: cart_abandoned, delay_hours: 4}\nfrequency_cap: null\n"
    )
    save_campaign(store, spec)
    first = tick(store, settings, now=now)
    assert len(first) == 1 and first[0].counts.get("planned") == 1
    msg = store.read_frame("SELECT customer_id, payload FROM messages WHERE status = 'planned'")
    assert msg["customer_id"].tolist() == ["c00001"]
    assert "p7" in str(msg["payload"].iloc[0])
    assert tick(store, settings, now=now + timedelta(minutes=5)) == []  # the same cart is not reminded twice
    later = tick(store, settings, now=now + timedelta(hours=4))  # c00003's cart is now old enough
    assert len(later) == 1 and later[0].counts.get("planned") == 1


def test_recurring_schedule_plans_one_run_per_occurrence(shop) -> None:  # noqa: ANN001
    store, settings = shop
    seed_shop(store, settings, 3)
    save_campaign(store, parse_spec("name: weekly\ngroups:\n  - {name: a, strategy: new_arrivals}\nchannels: [outbox]\n"
                                    "schedule: {type: recurring, cron: '0 9 * * *'}\nfrequency_cap: null\n"))
    t0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    assert len(tick(store, settings, now=t0)) == 1
    assert tick(store, settings, now=t0 + timedelta(hours=2)) == []
    assert len(tick(store, settings, now=t0 + timedelta(days=1))) == 1
    assert store.count("campaign_runs") == 2


def test_purchase_and_churn_risk_triggers_fire_once_per_event(shop) -> None:  # noqa: ANN001
    from persona.store.models import Prediction

    store, settings = shop
    seed_shop(store, settings, 4)
    now = datetime.now(UTC)
    store.bulk_insert("events", [
        {"event_id": "buy-new", "customer_id": "c00002", "product_id": "p3", "event_type": "purchase", "ts": now - timedelta(hours=30)},
    ])
    save_campaign(store, parse_spec("name: xsell\ngroups:\n  - {name: all, strategy: cross_sell}\nchannels: [outbox]\n"
                                    "schedule: {type: trigger, trigger: purchase, delay_hours: 24}\nfrequency_cap: null\n"))
    with store.session() as s:
        s.add_all([Prediction(customer_id="c00001", name="churn_probability", value=0.9, updated_at=now),
                   Prediction(customer_id="c00003", name="churn_probability", value=0.2, updated_at=now)])
    save_campaign(store, parse_spec("name: save\ngroups:\n  - {name: all, strategy: winback}\nchannels: [outbox]\n"
                                    "schedule: {type: trigger, trigger: churn_risk, threshold: 0.6}\nfrequency_cap: null\n"))
    runs = {r.campaign: r for r in tick(store, settings, now=now)}
    assert runs["xsell"].counts.get("planned") == 1 and runs["save"].counts.get("planned") == 1
    planned = store.read_frame("SELECT campaign, customer_id FROM messages ORDER BY campaign")
    assert planned.values.tolist() == [["save", "c00001"], ["xsell", "c00002"]]
    assert tick(store, settings, now=now + timedelta(minutes=10)) == []  # each triggering event is answered once


def test_validate_lists_every_mistake_with_its_line_and_suggests_the_field_meant(shop, tmp_path: Path) -> None:  # noqa: ANN001
    store, settings = shop
    seed_shop(store, settings, 6)
    f = tmp_path / "c.yaml"
    f.write_text("name: typos\n"
                 "audience:\n"
                 "  segments: [rfm:nosuch]\n"
                 "  where: \"countyr == 'DE'\"\n"
                 "groups:\n"
                 "  - {name: vip, when: \"zzz > 1\", strategy: coupon}\n"
                 "  - {name: rest, strategy: recommendations, template: missing.j2}\n"
                 "channels: [outbox]\n")
    r = _cli(settings, "campaign", "validate", str(f))
    assert r.exit_code == 2
    err = " ".join(r.output.split())  # as one line, whatever the wrapping
    assert "4 problem(s)" in err
    assert f"{f}:7:" in err and "groups.1.template" in err and f"{tmp_path / 'missing.j2'} does not exist" in err
    assert f"{f}:3:" in err and "audience.segments: no 'rfm' segments exist yet" in err
    assert f"{f}:4:" in err and "audience.where" in err and "did you mean country?" in err
    assert f"{f}:6:" in err and "groups.0.when" in err and "zzz" in err
    f.write_text("name: one\naudience: {where: \"birth_yaer < 1990\"}\ngroups: [{name: a, strategy: coupon}]\n"
                 "channels: [outbox]\n")
    r = _cli(settings, "campaign", "validate", str(f))
    out = " ".join(r.output.split())
    assert r.exit_code == 2 and "problem(s)" not in out and f"{f}:2:" in out and "did you mean birth_year?" in out


@pytest.mark.parametrize(("offer", "message"), [
    ("{discount_pct: 150}", "discount_pct must be a percentage from 0 to 100, got 150"),
    ("{discount_pct: -5}", "got -5"),
    ("{discount_pct: '15%'}", "got '15%'"),
    ("{valid_days: 0}", "valid_days must be a whole number of days"),
    ("{code_prefix: 'WIN BACK!'}", "code_prefix must be 1-16 letters"),
])
def test_offers_are_checked_where_they_are_written(offer: str, message: str) -> None:
    from persona.campaigns.spec import parse_spec
    from persona.errors import InputError

    with pytest.raises(InputError, match=re.escape(message)) as info:
        parse_spec(f"name: x\ngroups:\n  - {{name: a, strategy: coupon, offer: {offer}}}\n", "x.yaml")
    assert "x.yaml:3:" in str(info.value) and "groups.0.offer" in str(info.value)
    parse_spec("name: x\ngroups:\n  - {name: a, strategy: coupon, offer: {discount_pct: 15, valid_days: 30, "
               "code_prefix: WIN-BACK, headline: 'any other key reaches the templates'}}\n")


def test_a_template_file_is_found_from_the_campaign_files_folder(shop, tmp_path: Path) -> None:  # noqa: ANN001
    store, settings = shop
    seed_shop(store, settings, 4)
    folder = tmp_path / "campaigns"
    folder.mkdir()
    (folder / "mine.j2").write_text("{% block subject %}Hi {{ customer.first_name }}{% endblock %}"
                                    "{% block text %}x{% endblock %}{% block html %}x{% endblock %}")
    f = folder / "c.yaml"
    f.write_text("name: own\ngroups:\n  - {name: all, strategy: recommendations, template: mine.j2}\nchannels: [outbox]\n")
    r = _cli(settings, "campaign", "create", str(f), "--json")  # run from another folder: the tests' own
    assert r.exit_code == 0, r.output
    stored = store.read_frame("SELECT spec FROM campaigns WHERE name = 'own'")["spec"].iloc[0]
    spec = json.loads(stored) if isinstance(stored, str) else stored
    assert spec["groups"][0]["template"] == str(folder / "mine.j2")  # the worker finds it from wherever it runs
