"""User mistakes around campaigns: a failed plan stores nothing, a broken campaign does not stop the worker, bad
numbers are refused up front, preview says why a customer is left out, validate --json lists the problems."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from shop_fixtures import seed_shop
from typer.testing import CliRunner

from persona.campaigns.planner import save_campaign
from persona.campaigns.scheduler import plan_due
from persona.campaigns.spec import parse_spec
from persona.cli.main import app

runner = CliRunner()
BROKEN = "name: broken\naudience: {segments: [rfm:nosuch]}\ngroups:\n  - {name: all, strategy: recommendations, items: 2}\nchannels: [outbox]\n"
CHAMPS = "name: champs\naudience: {segments: [rfm:champions]}\ngroups:\n  - {name: all, strategy: recommendations, items: 2}\nchannels: [outbox]\n"


def _cli(settings, *args: str):  # noqa: ANN001, ANN202
    return runner.invoke(app, [*args, "--workspace", str(settings.workspace)], env={"PERSONA_GLOBAL_HOLDOUT": "0"})


def _segmented_shop(shop):  # noqa: ANN001, ANN202
    """Six customers: c00000-c00002 are RFM champions, the others prospects."""
    store, settings = shop
    ids = seed_shop(store, settings, 6)
    store.bulk_insert("segment_memberships", [
        {"customer_id": cid, "method": "rfm", "segment_id": "champions" if i < 3 else "prospects"} for i, cid in enumerate(ids)
    ])
    return store, settings


def test_a_failed_plan_stores_nothing(shop, tmp_path: Path) -> None:  # noqa: ANN001
    store, settings = _segmented_shop(shop)
    f = tmp_path / "broken.yaml"
    f.write_text(BROKEN)
    r = _cli(settings, "campaign", "plan", str(f))
    assert r.exit_code == 2 and "unknown segment 'rfm:nosuch'" in r.output and f"{f}:2:" in r.output
    assert "Traceback" not in r.output
    assert store.count("campaigns") == 0 and store.count("campaign_runs") == 0 and store.count("messages") == 0
    r = _cli(settings, "campaign", "list", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout) == []
    r = _cli(settings, "campaign", "worker", "--once", "--json")  # nothing broken was left behind for the worker
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["skipped"] == {}


def test_the_worker_skips_a_broken_campaign_and_plans_and_sends_the_others(shop, tmp_path: Path) -> None:  # noqa: ANN001
    store, settings = _segmented_shop(shop)
    save_campaign(store, parse_spec(BROKEN))  # as an older version's failed `plan` left it: stored and active
    good = tmp_path / "champs.yaml"
    good.write_text(CHAMPS)
    assert _cli(settings, "campaign", "create", str(good)).exit_code == 0
    r = _cli(settings, "campaign", "worker", "--once", "--json")
    assert r.exit_code == 1, r.output  # something failed: said by the exit code, after the others were done
    out = json.loads(r.stdout)
    assert out["planned_runs"] == ["champs:once"] and out["sent"] == 3
    assert list(out["skipped"]) == ["broken"] and "unknown segment 'rfm:nosuch'" in out["skipped"]["broken"]
    note = [line for line in r.stderr.splitlines() if "skipped" in line]
    assert len(note) == 1 and "campaign 'broken' skipped" in note[0] and "persona campaign create" in note[0]
    assert "Traceback" not in r.output
    # fixing the file and storing it again ends the skipping
    fixed = tmp_path / "broken.yaml"
    fixed.write_text(BROKEN.replace("rfm:nosuch", "rfm:prospects"))
    assert _cli(settings, "campaign", "create", str(fixed)).exit_code == 0
    r = _cli(settings, "campaign", "worker", "--once", "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["planned_runs"] == ["broken:once"] and out["skipped"] == {} and out["sent"] == 3
    # the library call reports the same way
    save_campaign(store, parse_spec(BROKEN.replace("name: broken", "name: broken2")))
    report = plan_due(store, settings)
    assert report.planned == [] and list(report.failed) == ["broken2"]


def test_a_triggered_run_checks_segments_against_every_customer(shop) -> None:  # noqa: ANN001
    """The triggered customers being outside a segment does not make the segment "unknown"."""
    store, settings = _segmented_shop(shop)
    now = datetime.now(UTC)
    store.bulk_insert("events", [
        {"event_id": "a1", "customer_id": "c00004", "product_id": "p7", "event_type": "add_to_cart", "ts": now - timedelta(hours=5)},
    ])
    save_campaign(store, parse_spec(
        "name: cart\naudience: {segments: [rfm:champions]}\ngroups:\n  - {name: all, strategy: cart_abandonment}\n"
        "channels: [outbox]\nschedule: {type: trigger, trigger: cart_abandoned, delay_hours: 4}\nfrequency_cap: null\n"
    ))
    report = plan_due(store, settings, now=now)
    assert report.failed == {}
    assert len(report.planned) == 1 and report.planned[0].counts.get("planned", 0) == 0  # c00004 is no champion
    # the trigger is handled all the same: later passes plan no new (empty) run for it
    for later in (now + timedelta(minutes=1), now + timedelta(minutes=2)):
        assert plan_due(store, settings, now=later).planned == []
    assert store.read_frame("SELECT COUNT(*) AS n FROM campaign_runs WHERE campaign = 'cart'")["n"].iloc[0] == 1


def test_worker_interval_and_send_max_are_checked_up_front(shop, tmp_path: Path) -> None:  # noqa: ANN001
    store, settings = _segmented_shop(shop)
    good = tmp_path / "champs.yaml"
    good.write_text(CHAMPS)
    assert _cli(settings, "campaign", "plan", str(good)).exit_code == 0
    for args in (["--interval", "-1"], ["--interval", "0", "--once"], ["--interval", "nan", "--once"], ["--interval", "inf"]):
        r = _cli(settings, "campaign", "worker", *args)
        assert r.exit_code == 2, (args, r.output)
        assert r.output.startswith("error[bad_input]: --interval must be a number of seconds above 0") and r.output.count("\n") == 1
    for n in ("-1", "0"):
        r = _cli(settings, "campaign", "send", "champs", "--max", n)
        assert r.exit_code == 2, (n, r.output)
        assert "--max" in r.output
    assert store.read_frame("SELECT COUNT(*) AS n FROM messages WHERE status = 'sent'")["n"].iloc[0] == 0  # no pass ran
    r = _cli(settings, "campaign", "send", "champs", "--max", "1", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["sent"] == 1


def test_preview_says_the_customer_is_not_in_the_audience(shop, tmp_path: Path) -> None:  # noqa: ANN001
    store, settings = _segmented_shop(shop)
    f = tmp_path / "champs.yaml"
    f.write_text(CHAMPS)
    r = _cli(settings, "campaign", "preview", str(f), "--customer", "c00004")
    out = " ".join(r.output.split())
    assert r.exit_code == 2 and "unknown segment" not in out
    assert "customer 'c00004' is not in the audience of campaign 'champs'" in out and "rfm:champions" in out
    r = _cli(settings, "campaign", "preview", str(f), "--customer", "c00001", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["to"] == "c00001@example.org"
    # a segment RFM knows but nobody is in yet: said so, with the command that refreshes the segments
    f.write_text(CHAMPS.replace("rfm:champions", "rfm:promising"))
    r = _cli(settings, "campaign", "preview", str(f), "--customer", "c00001")
    out = " ".join(r.output.split())
    assert r.exit_code == 2 and "segment 'rfm:promising' has no members yet" in out and "persona segments build --method rfm" in out
    f.write_text(CHAMPS.replace("rfm:champions", "rfm:nosuch"))  # a segment that really is unknown
    r = _cli(settings, "campaign", "preview", str(f), "--customer", "c00001")
    out = " ".join(r.output.split())
    assert r.exit_code == 2 and "unknown segment 'rfm:nosuch'" in out and "champions, prospects" in out


def test_validate_json_lists_the_problems(shop, tmp_path: Path) -> None:  # noqa: ANN001
    store, settings = _segmented_shop(shop)
    f = tmp_path / "c.yaml"
    f.write_text("name: x\naudience: {segments: [rfm:nosuch], where: 'churn_probability > 0.5'}\n"
                 "groups:\n  - {name: a, strategy: coupon}\nchannels: [outbox]\n")
    r = _cli(settings, "campaign", "validate", str(f), "--json")
    assert r.exit_code == 2
    out = json.loads(r.stdout)
    assert out["valid"] is False and out["file"] == str(f) and len(out["problems"]) == 2
    assert out["problems"][0].startswith(f"{f}:2:") and "audience.segments: unknown segment 'rfm:nosuch'" in out["problems"][0]
    assert "audience.where" in out["problems"][1] and "persona predict churn" in out["problems"][1]
    f.write_text("name: x\ngroups:\n  - {name: a, strategy: coupon\n")  # malformed: one problem
    r = _cli(settings, "campaign", "validate", str(f), "--json")
    assert r.exit_code == 2 and len(json.loads(r.stdout)["problems"]) == 1 and "malformed YAML" in r.stdout
    r = _cli(settings, "campaign", "validate", str(tmp_path / "missing.yaml"), "--json")
    assert r.exit_code == 2 and "does not exist" in json.loads(r.stdout)["problems"][0]
    r = _cli(settings, "campaign", "validate", str(f))  # without --json: the one-line error only, on stderr
    assert r.exit_code == 2 and r.stdout == ""
