"""Team-draft interleaving on live traffic: each served list is logged as an impression event, and the
customer's later clicks, carts and purchases of shown items are credited to the ranker that drafted them.

Impressions are stored as events of type ``rec_impression`` whose context holds the experiment, the
impression id, the items and their teams; so they flow through the same store, export and erasure as
every other event. A click is credited to an impression when it names the impression id in its context,
or else when it is the customer's click on a shown item within ``window_hours`` after it.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from persona.errors import InputError
from persona.experiments.interleaving import Interleaving, InterleavingResult, analyze_interleaving

IMPRESSION = "rec_impression"
CREDITED = ("click", "add_to_cart", "purchase", "email_click")


def log_impression(store: Any, experiment: str, customer_id: str, shown: Interleaving, *, names: tuple[str, str]) -> str:
    """Store one interleaved impression; returns its id (clients may echo it as ``impression_id`` on clicks)."""
    impression_id = uuid.uuid4().hex
    row = {
        "event_id": f"imp:{impression_id}",
        "customer_id": customer_id,
        "product_id": None,
        "event_type": IMPRESSION,
        "ts": datetime.now(UTC),
        "channel": "api",
        "context": {"experiment": experiment, "impression_id": impression_id, "items": [str(i) for i in shown.items],
                    "teams": list(shown.teams), "rankers": list(names)},
    }
    store.bulk_insert("events", [row], key=["event_id"])
    return impression_id


def _ctx(v: Any) -> dict[str, Any]:
    if isinstance(v, dict):
        return v
    return json.loads(v) if isinstance(v, str) and v else {}


def interleaving_credits(store: Any, experiment: str, *, window_hours: float = 24.0) -> tuple[pd.DataFrame, tuple[str, str]]:
    """Per impression of ``experiment``: clicks credited to A and to B, and the two rankers' names."""
    imp = store.read_frame("SELECT customer_id, ts, context FROM events WHERE event_type = :t", {"t": IMPRESSION})
    imp["context"] = imp["context"].map(_ctx)
    imp = imp[imp["context"].map(lambda c: c.get("experiment") == experiment)]
    if imp.empty:
        raise InputError(f"no impressions logged for interleaving experiment {experiment!r}",
                         hint="serve lists with GET /v1/recommendations/{id}?interleave=… first")
    names = tuple(imp["context"].iloc[0].get("rankers", ["A", "B"]))
    clicks = store.read_frame(
        "SELECT customer_id, product_id, ts, context FROM events WHERE event_type IN ('click', 'add_to_cart', 'purchase', 'email_click') "
        "AND product_id IS NOT NULL AND customer_id IN (SELECT customer_id FROM events WHERE event_type = :t)",
        {"t": IMPRESSION},
    )
    clicks["context"] = clicks["context"].map(_ctx)
    clicks["ts"] = pd.to_datetime(clicks["ts"], utc=True, format="mixed")
    imp["ts"] = pd.to_datetime(imp["ts"], utc=True, format="mixed")
    by_customer = {c: g for c, g in clicks.groupby("customer_id")}
    rows = []
    window = pd.Timedelta(hours=window_hours)
    for cust, ts, ctx in zip(imp["customer_id"], imp["ts"], imp["context"], strict=True):
        g = by_customer.get(cust)
        clicked: set[str] = set()
        if g is not None:
            imp_id = ctx["impression_id"]
            tagged = g[g["context"].map(lambda c, i=imp_id: c.get("impression_id") == i)]
            untagged = g[g["context"].map(lambda c: "impression_id" not in c) & (g["ts"] >= ts) & (g["ts"] <= ts + window)]
            clicked = set(tagged["product_id"].astype(str)) | set(untagged["product_id"].astype(str))
        a, b = Interleaving(items=ctx["items"], teams=ctx["teams"]).credit(clicked)
        rows.append({"impression_id": ctx["impression_id"], "customer_id": cust, "a": a, "b": b})
    return pd.DataFrame(rows), (str(names[0]), str(names[1]))


def analyze_live_interleaving(store: Any, experiment: str, **kwargs: Any) -> InterleavingResult:
    """Which of the two rankers wins on live traffic (sign test, bootstrap interval on the preference)."""
    credits, (a, b) = interleaving_credits(store, experiment)
    return analyze_interleaving(credits, name_a=a, name_b=b, **kwargs)
