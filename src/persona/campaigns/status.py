"""Campaign results: planned, sent, failed, suppressed (with reasons), opened, clicked, converted, revenue.

Conversions are attributed to the last campaign touch: a purchase counts for the most recent message
sent to that customer (by any campaign) within the campaign's conversion window before it.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from persona.campaigns.spec import CampaignSpec
from persona.errors import NotFoundError
from persona.store.models import Campaign


def stored_campaign(store: Any, name: str) -> Campaign:
    """The stored campaign ``name``.

    Raises:
        NotFoundError: no campaign of that name, with the names there are.
    """
    with store.session() as s:
        row = s.get(Campaign, name)
    if row is None:
        known = store.read_frame("SELECT name FROM campaigns ORDER BY name")["name"].tolist()
        raise NotFoundError(f"no campaign {name!r}", hint=f"known campaigns: {', '.join(known) or 'none yet'}")
    return row


def campaign_status(store: Any, name: str) -> dict[str, Any]:
    """Counts and outcomes of every run of campaign ``name``."""
    row = stored_campaign(store, name)
    spec = CampaignSpec.model_validate(row.spec)
    msgs = store.read_frame(
        "SELECT message_id, customer_id, channel, variant, strategy, status, reason, attempts, sent_at FROM messages WHERE campaign = :c",
        {"c": name},
    )
    counts = msgs["status"].value_counts().to_dict()
    out: dict[str, Any] = {
        "campaign": name,
        "status": row.status,
        "runs": int(store.read_frame("SELECT COUNT(*) AS n FROM campaign_runs WHERE campaign = :c", {"c": name})["n"].iloc[0]),
        "planned": int(len(msgs)),
        "sent": int(counts.get("sent", 0)),
        "failed": int(counts.get("failed", 0)),
        "pending": int(counts.get("planned", 0) + counts.get("retry", 0) + counts.get("sending", 0)),
        "suppressed": int(counts.get("suppressed", 0)),
        "holdout": int(counts.get("holdout", 0)),
        "suppressed_reasons": msgs.loc[msgs["status"] == "suppressed", "reason"].value_counts().to_dict(),
        "failed_reasons": msgs.loc[msgs["status"] == "failed", "reason"].value_counts().head(10).to_dict(),
        "resent_after_crash": int((msgs["status"].eq("sent") & msgs["reason"].eq("resent_after_crash")).sum()) if len(msgs) else 0,
    }
    ev = store.read_frame(
        "SELECT event_type, context FROM events WHERE event_type IN ('email_open', 'email_click') AND event_id LIKE 'track:%'"
    )
    ids = set(msgs["message_id"])
    if len(ev):
        mid = ev["context"].map(lambda c: (c if isinstance(c, dict) else json.loads(c) if c else {}).get("message_id"))
        mine = ev[mid.isin(ids)]
        mid = mid[mid.isin(ids)]
        out["opened"] = int(mid[mine["event_type"] == "email_open"].nunique())
        out["clicked"] = int(mid[mine["event_type"] == "email_click"].nunique())
    else:
        out["opened"] = out["clicked"] = 0
    conv, revenue = _conversions(store, name, spec.conversion_window_days)
    out["converted"] = conv
    out["revenue"] = round(revenue, 2)
    by_variant = msgs.groupby(msgs["variant"].fillna("-"))["status"].value_counts().unstack(fill_value=0)
    out["by_variant"] = {str(k): {str(c): int(v) for c, v in r.items()} for k, r in by_variant.iterrows()} if len(msgs) else {}
    return out


def _conversions(store: Any, name: str, window_days: float) -> tuple[int, float]:
    sent = store.read_frame("SELECT customer_id, campaign, sent_at FROM messages WHERE status = 'sent' AND sent_at IS NOT NULL")
    if sent.empty or not (sent["campaign"] == name).any():
        return 0, 0.0
    cids = sent.loc[sent["campaign"] == name, "customer_id"].unique().tolist()
    buys = store.read_frame(
        "SELECT customer_id, ts, revenue FROM events WHERE event_type = 'purchase'"
    )
    buys = buys[buys["customer_id"].isin(cids)]
    if buys.empty:
        return 0, 0.0
    sent["sent_at"] = pd.to_datetime(sent["sent_at"], utc=True)
    buys["ts"] = pd.to_datetime(buys["ts"], utc=True)
    sent = sent[sent["customer_id"].isin(cids)].sort_values("sent_at")
    buys = buys.sort_values("ts")
    touch = pd.merge_asof(
        buys, sent, left_on="ts", right_on="sent_at", by="customer_id", direction="backward",
        tolerance=pd.Timedelta(days=window_days),
    )
    mine = touch[touch["campaign"] == name]
    return int(mine["customer_id"].nunique()), float(mine["revenue"].fillna(0).sum())
