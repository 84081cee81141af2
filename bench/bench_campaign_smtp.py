"""E-mail throughput: Persona's outbox worker vs a bare render-and-send loop, through a local SMTP server.

Both render a personal HTML + text message per customer from a Jinja2 template and hand it to the same
aiosmtpd server (a separate process on loopback). Persona also checks consent and caps per message,
decrypts the address and records every step in the outbox (exactly-once bookkeeping); the peer does none
of that. Run: ``python bench/bench_campaign_smtp.py [--customers 5000] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import smtplib
import socket
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(port: int, counter: mp.Value) -> None:  # type: ignore[valid-type]
    import asyncio

    from aiosmtpd.controller import Controller

    class Handler:
        async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, ANN201, N802
            with counter.get_lock():
                counter.value += 1
            return "250 OK"

    ctl = Controller(Handler(), hostname="127.0.0.1", port=port)
    ctl.start()
    asyncio.run(asyncio.sleep(10**6))


def bare_loop(n: int, port: int) -> float:
    """The peer: Jinja2 render + smtplib.send_message per message on one connection."""
    from jinja2 import Environment

    env = Environment(autoescape=True)
    html = env.from_string("<html><body><p>Hi {{ name }},</p>{% for i in items %}<a href='{{ i.url }}'>{{ i.title }}</a> {{ i.price }}<br>{% endfor %}"
                           "<a href='{{ unsub }}'>Unsubscribe</a></body></html>")
    text = env.from_string("Hi {{ name }},\n{% for i in items %}- {{ i.title }} {{ i.price }}: {{ i.url }}\n{% endfor %}Unsubscribe: {{ unsub }}")
    items = [{"title": f"Product {j}", "price": 10 + j, "url": f"http://shop/p/{j}"} for j in range(3)]
    t0 = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        for i in range(n):
            ctx = {"name": f"Name{i}", "items": items, "unsub": f"http://shop/u/{i}"}
            em = EmailMessage()
            em["From"], em["To"], em["Subject"] = "shop@example.com", f"c{i}@example.org", f"Hi Name{i}, picks for you"
            em.set_content(text.render(ctx))
            em.add_alternative(html.render(ctx), subtype="html")
            smtp.send_message(em)
    return time.perf_counter() - t0


def persona_worker(n: int, port: int) -> tuple[float, float, int]:
    from shop_fixtures import seed_shop

    from persona.campaigns.planner import plan_campaign
    from persona.campaigns.spec import parse_spec
    from persona.campaigns.worker import Worker
    from persona.config import load_settings
    from persona.store import open_store
    from persona.store.workspace import init_workspace

    ws = Path(tempfile.mkdtemp()) / "ws"
    settings = load_settings(ws, progress=False, global_holdout=0.0)
    init_workspace(settings)
    store = open_store(settings)
    seed_shop(store, settings, n)
    spec = parse_spec(f"name: bench\ngroups:\n  - {{name: all, strategy: recommendations}}\n"
                      f"channels: [{{type: email, host: 127.0.0.1, port: {port}}}]\n")
    t0 = time.perf_counter()
    plan_campaign(store, settings, spec)
    t_plan = time.perf_counter() - t0
    t0 = time.perf_counter()
    stats = Worker(store, settings).run("bench")
    return t_plan, time.perf_counter() - t0, stats.sent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--customers", type=int, default=5000)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    import logging

    logging.disable(logging.WARNING)
    counter = mp.Value("i", 0)
    port = _free_port()
    srv = mp.Process(target=_serve, args=(port, counter), daemon=True)
    srv.start()
    time.sleep(1.0)
    try:
        t_plan, t_send, sent = persona_worker(a.customers, port)
        t_bare = bare_loop(a.customers, port)
    finally:
        srv.terminate()
    rows = [
        {"system": "persona outbox worker (render + consent/cap checks + send + exactly-once bookkeeping)",
         "messages": sent, "seconds": round(t_send, 2), "emails_per_s": round(sent / t_send, 1)},
        {"system": "bare loop (jinja2 + smtplib.send_message, no checks, no outbox)",
         "messages": a.customers, "seconds": round(t_bare, 2), "emails_per_s": round(a.customers / t_bare, 1)},
    ]
    out = {"customers": a.customers, "plan_seconds": round(t_plan, 2), "server_received": counter.value, "rows": rows}
    if a.json:
        print(json.dumps(out, indent=2))
        return
    print(f"planning {a.customers} customers (audience, strategies, outbox rows): {t_plan:.2f} s")
    print(f"{'system':<95} {'msgs':>6} {'s':>7} {'e-mails/s':>10}")
    for r in rows:
        print(f"{r['system']:<95} {r['messages']:>6} {r['seconds']:>7} {r['emails_per_s']:>10}")
    print(f"SMTP server received {counter.value} messages in total")


if __name__ == "__main__":
    main()
