from __future__ import annotations

import json
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from shop_fixtures import seed_shop

from persona.campaigns.channels.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from persona.campaigns.planner import plan_campaign, save_campaign
from persona.campaigns.spec import parse_spec
from persona.campaigns.status import campaign_status
from persona.campaigns.tracking import Signer, record_click, record_open, record_unsubscribe
from persona.campaigns.worker import Worker
from persona.errors import InputError
from persona.privacy.consent import consent_state

SECRET = "whsec-test"


class Receiver:
    """A local webhook endpoint: fails the first attempts of each message, sleeps on some, checks signatures."""

    def __init__(self, fail_first: int = 2, slow_first: int = 0, sleep: float = 0.0) -> None:
        self.attempts: Counter = Counter()
        self.accepted: dict[str, dict] = {}
        self.bad_signatures = 0
        self.fail_first, self.slow_first, self.sleep = fail_first, slow_first, sleep
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                key = self.headers["Idempotency-Key"]
                receiver.attempts[key] += 1
                n = receiver.attempts[key]
                if not verify(SECRET, self.headers[TIMESTAMP_HEADER], body, self.headers[SIGNATURE_HEADER]):
                    receiver.bad_signatures += 1
                    self.send_response(401)
                    self.end_headers()
                    return
                if n <= receiver.slow_first:
                    time.sleep(receiver.sleep)
                if n <= receiver.fail_first:
                    self.send_response(500)
                    self.end_headers()
                    self.wfile.write(b"try again")
                    return
                receiver.accepted.setdefault(key, json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *a: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


def webhook_spec(url: str, timeout: float = 2.0) -> str:
    return (
        "name: hooks\ngroups:\n  - {name: all, strategy: winback}\n"
        f"channels: [{{type: webhook, url: '{url}', secret_env: HOOK_SECRET, timeout: {timeout}}}]\n"
        "frequency_cap: null\nmax_attempts: 6\n"
    )


def _consent_push(store, ids) -> None:  # noqa: ANN001
    from persona.privacy.consent import record_consent

    for c in ids:
        record_consent(store, c, "push", "marketing", True, source="app")


def test_webhook_500s_and_timeouts_are_retried_and_delivered_once(shop, monkeypatch) -> None:  # noqa: ANN001
    store, settings = shop
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    rx = Receiver(fail_first=2, slow_first=1, sleep=1.5)
    try:
        ids = seed_shop(store, settings, 5)
        _consent_push(store, ids)
        plan_campaign(store, settings, parse_spec(webhook_spec(rx.url, timeout=0.5)))
        clock = [datetime.now(UTC)]
        w = lambda: Worker(store, settings, clock=lambda: clock[0])  # noqa: E731
        for _ in range(6):
            w().run("hooks")
            clock[0] += timedelta(hours=1)
        assert rx.bad_signatures == 0
        assert set(rx.accepted) and len(rx.accepted) == 5
        assert {b["customer_id"] for b in rx.accepted.values()} == set(ids)
        assert all(b["offer"]["discount_pct"] == 20 for b in rx.accepted.values())
        st = campaign_status(store, "hooks")
        assert st["sent"] == 5 and st["failed"] == 0 and st["pending"] == 0
    finally:
        rx.close()


def test_webhook_gives_up_after_max_attempts_with_the_reason(shop, monkeypatch) -> None:  # noqa: ANN001
    store, settings = shop
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    rx = Receiver(fail_first=100)
    try:
        ids = seed_shop(store, settings, 2)
        _consent_push(store, ids)
        plan_campaign(store, settings, parse_spec(webhook_spec(rx.url)))
        clock = [datetime.now(UTC)]
        for _ in range(8):
            Worker(store, settings, clock=lambda: clock[0]).run("hooks")
            clock[0] += timedelta(hours=2)
        st = campaign_status(store, "hooks")
        assert st["failed"] == 2 and "HTTP 500" in next(iter(st["failed_reasons"]))
        assert max(rx.attempts.values()) == 6
    finally:
        rx.close()


def test_webhook_secret_missing_is_a_clear_error(shop, monkeypatch) -> None:  # noqa: ANN001
    store, settings = shop
    monkeypatch.delenv("HOOK_SECRET", raising=False)
    ids = seed_shop(store, settings, 1)
    _consent_push(store, ids)
    plan_campaign(store, settings, parse_spec(webhook_spec("http://127.0.0.1:9/x")))
    worker = Worker(store, settings)
    stats = worker.run("hooks")
    assert stats.sent == 0 and worker.unusable == {("hooks", "webhook"): "webhook secret variable HOOK_SECRET is not set; "
                                                                       "export HOOK_SECRET=…"}
    assert any("webhook channel of hooks cannot start (webhook secret variable HOOK_SECRET" in n for n in stats.notes)
    assert set(store.read_frame("SELECT status FROM messages")["status"]) == {"planned"}  # waits, nothing lost
    from typer.testing import CliRunner

    from persona.cli.main import app

    r = CliRunner().invoke(app, ["campaign", "send", "hooks", "--workspace", str(settings.workspace)])
    assert r.exit_code == 2 and "the webhook channel of hooks cannot start: webhook secret variable HOOK_SECRET" in r.output


def test_export_and_outbox_channels_are_idempotent(shop) -> None:  # noqa: ANN001
    store, settings = shop
    ids = seed_shop(store, settings, 6)
    from persona.privacy.consent import record_consent

    for c in ids:
        record_consent(store, c, "ads", "marketing", True, source="form")
    spec = parse_spec("name: exp\ngroups:\n  - {name: all, strategy: new_arrivals}\nchannels: [outbox, {type: export, format: csv}]\n")
    plan_campaign(store, settings, spec)
    stats = Worker(store, settings).run("exp")
    assert stats.sent == 12
    out = settings.workspace / "exports" / "exp.csv"
    lines = out.read_text().splitlines()
    assert len(lines) == 7 and "email_sha256" in lines[0] and "@" not in out.read_text()
    emls = list((settings.workspace / "outbox" / "exp").glob("*.eml"))
    assert len(emls) == 6
    # a crash after the channel wrote but before the outbox recorded it: the channel recognises the id
    store.read_frame("SELECT 1")
    with store.session() as s:
        from sqlalchemy import update

        from persona.store.models import Message

        s.execute(update(Message).values(status="sending"))
    stats = Worker(store, settings).run("exp")
    assert stats.recovered == 12 and stats.sent == 12
    assert len(out.read_text().splitlines()) == 7 and len(list((settings.workspace / "outbox" / "exp").glob("*.eml"))) == 6


def test_tracking_open_click_unsubscribe_flow_back(shop) -> None:  # noqa: ANN001
    store, settings = shop
    seed_shop(store, settings, 3)
    plan_campaign(store, settings, parse_spec("name: t\ngroups:\n  - {name: all, strategy: coupon}\nchannels: [outbox]\n"))
    Worker(store, settings).run("t")
    msgs = store.read_frame("SELECT message_id, customer_id, payload FROM messages ORDER BY customer_id")
    mid = msgs["message_id"].iloc[0]
    signer = Signer.from_settings(settings)
    assert record_open(store, mid) and not record_open(store, mid)  # one open per message
    payload = msgs["payload"].iloc[0]
    payload = payload if isinstance(payload, dict) else json.loads(payload)
    url = payload["items"][0]["url"]
    assert record_click(store, signer, mid, url, signer.sign(mid, url)) == url
    with pytest.raises(InputError, match="signature"):
        record_click(store, signer, mid, "https://evil.example", signer.sign(mid, url))
    cid = record_unsubscribe(store, signer, mid, signer.sign(mid, "unsubscribe"))
    assert consent_state(store, "email", "marketing", [cid])[cid] is False
    st = campaign_status(store, "t")
    assert st["opened"] == 1 and st["clicked"] == 1 and st["sent"] == 3
    ev = store.read_frame("SELECT event_type, product_id FROM events WHERE event_type = 'email_click'")
    assert ev["product_id"].iloc[0] == payload["items"][0]["product_id"]


def test_conversions_are_attributed_to_the_last_touch(shop) -> None:  # noqa: ANN001
    store, settings = shop
    seed_shop(store, settings, 4)
    save_campaign(store, parse_spec("name: a\ngroups:\n  - {name: all, strategy: coupon}\nchannels: [outbox]\nfrequency_cap: null\n"))
    plan_campaign(store, settings, parse_spec("name: a\ngroups:\n  - {name: all, strategy: coupon}\nchannels: [outbox]\nfrequency_cap: null\n"))
    Worker(store, settings).run("a")
    later = datetime.now(UTC) + timedelta(days=1)
    store.bulk_insert("events", [
        {"event_id": "buy1", "customer_id": "c00001", "product_id": "p1", "event_type": "purchase", "ts": later, "revenue": 42.0},
        {"event_id": "buy2", "customer_id": "c00002", "product_id": "p1", "event_type": "purchase", "ts": later + timedelta(days=30), "revenue": 9.0},
    ])
    st = campaign_status(store, "a")
    assert st["converted"] == 1 and st["revenue"] == 42.0


def test_budget_keeps_the_most_profitable_customers(shop) -> None:  # noqa: ANN001
    store, settings = shop
    seed_shop(store, settings, 40)
    spec = parse_spec(
        "name: b\ngroups:\n  - {name: all, strategy: cart_abandonment}\nchannels: [outbox]\n"
        "budget: {total: 0.05, cost_per_message: 0.01, margin: 0.5}\n"
    )
    store.bulk_insert("events", [
        {"event_id": f"cart{i}", "customer_id": f"c{i:05d}", "product_id": "p3", "event_type": "add_to_cart",
         "ts": datetime.now(UTC) - timedelta(hours=6), "quantity": 1.0}
        for i in range(10)
    ])
    res = plan_campaign(store, settings, spec)
    assert res.counts["planned"] == 5  # 0.05 budget / 0.01 per message
    st = store.read_frame("SELECT reason, COUNT(*) AS n FROM messages WHERE status = 'suppressed' GROUP BY reason")
    reasons = dict(zip(st["reason"], st["n"], strict=True))
    assert reasons == {"nothing in the cart": 30, "budget": 5}


def test_cross_sell_uses_the_registered_basket_rules(shop) -> None:  # noqa: ANN001
    from persona.basket.model import BasketRules
    from persona.registry import register

    store, settings = shop
    seed_shop(store, settings, 6)
    baskets = [["p1", "p2"], ["p1", "p2"], ["p1", "p2", "p3"], ["p4", "p5"], ["p1", "p2"]]
    register(store, "basket_rules", "basket", BasketRules(min_support=0.2, min_confidence=0.1).fit(baskets), activate=True)
    plan_campaign(store, settings, parse_spec("name: x\ngroups:\n  - {name: all, strategy: cross_sell, items: 2}\nchannels: [outbox]\n"))
    pay = store.read_frame("SELECT payload FROM messages WHERE customer_id = 'c00001'")["payload"].iloc[0]
    items = (pay if isinstance(pay, dict) else json.loads(pay))["items"]
    assert items[0]["product_id"] == "p2" and items[0]["reason"] == "often bought with Product 1"


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_export_writes_numpy_values_as_json_numbers(tmp_path, fmt) -> None:  # noqa: ANN001
    import csv

    import numpy as np

    from persona.campaigns.channels.base import OutgoingMessage
    from persona.campaigns.channels.files import ExportChannel

    payload = {"strategy": "coupon", "offer": {"discount": np.float64(0.15), "min_spend": np.int64(50),
                                              "stackable": np.bool_(False), "cap": np.float64("nan")},
               "items": [{"product_id": np.int64(1042)}, {"product_id": "p7"}]}  # integer ids, read from Parquet
    msg = OutgoingMessage("m1", "spring", "c1", "c1@example.org", "Hi", "<p>Hi</p>", "Hi", "https://x/u", payload)
    path = tmp_path / f"spring.{fmt}"
    channel = ExportChannel(path, fmt)
    assert channel.send(msg).outcome == "sent"
    channel.close()
    with path.open(encoding="utf-8", newline="") as fh:
        row = next(csv.DictReader(fh)) if fmt == "csv" else json.loads(fh.readline())
    assert json.loads(row["offer"]) == {"discount": 0.15, "min_spend": 50, "stackable": False, "cap": None}
    assert json.loads(row["items"]) == [1042, "p7"]
    again = ExportChannel(path, fmt)
    assert again.send(msg).duplicate  # the id is read back: sent once
    again.close()
