"""Schedules and triggers: decides which campaign runs are due now and plans them.

- ``once``: one run, planned the first time the worker sees the campaign;
- ``recurring``: one run per cron occurrence (missed occurrences collapse into the latest one);
- ``trigger``: ``cart_abandoned`` (items left in the cart for ``delay_hours``), ``purchase`` (cross-sell
  ``delay_hours`` after a purchase) and ``churn_risk`` (churn probability above ``threshold``, at most
  once a month per customer). Each triggering event is answered once: its reference is kept in the
  message payload and skipped afterwards.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
from croniter import croniter
from pydantic import ValidationError

from persona.campaigns.context import abandoned_carts
from persona.campaigns.planner import PlanResult, plan_campaign
from persona.campaigns.spec import CampaignSpec
from persona.config import Settings
from persona.errors import PersonaError

log = logging.getLogger(__name__)


def _handled_refs(store: Any, name: str) -> set[str]:
    """The triggers a campaign's runs have handled: those its runs record (a customer outside the audience gets no
    message, but their trigger is handled all the same) and those its messages name (runs from before the record)."""
    refs: set[str] = set()
    runs = store.read_frame("SELECT stats FROM campaign_runs WHERE campaign = :c", {"c": name})
    for st in runs["stats"]:
        d = st if isinstance(st, dict) else json.loads(st) if st else {}
        refs.update(d.get("triggers") or [])
    rows = store.read_frame("SELECT payload FROM messages WHERE campaign = :c", {"c": name})
    for p in rows["payload"]:
        d = p if isinstance(p, dict) else json.loads(p) if p else {}
        if d.get("trigger"):
            refs.add(d["trigger"])
    return refs


def _last_run(store: Any, name: str) -> datetime | None:
    df = store.read_frame("SELECT MAX(planned_at) AS t FROM campaign_runs WHERE campaign = :c", {"c": name})
    t = df["t"].iloc[0]
    return None if t is None or pd.isna(t) else pd.Timestamp(t).tz_localize(UTC) if pd.Timestamp(t).tzinfo is None else pd.Timestamp(t)


def triggered(store: Any, spec: CampaignSpec, now: datetime) -> dict[str, str]:
    """Customers a trigger campaign should message now, each with the reference of its triggering event."""
    sch = spec.schedule
    done = _handled_refs(store, spec.name)
    out: dict[str, str] = {}
    if sch.trigger == "cart_abandoned":
        for cid, items in abandoned_carts(store, now=now, older_than_hours=sch.delay_hours).items():
            ref = f"cart:{cid}:{items[0]}"
            if ref not in done:
                out[cid] = ref
    elif sch.trigger == "purchase":
        hi = now - timedelta(hours=sch.delay_hours)
        buys = store.read_frame(
            "SELECT customer_id, event_id FROM events WHERE event_type = 'purchase' AND ts > :lo AND ts <= :hi ORDER BY ts",
            {"lo": hi - timedelta(days=2), "hi": hi},
        )
        for cid, eid in zip(buys["customer_id"], buys["event_id"], strict=True):
            ref = f"purchase:{eid}"
            if ref not in done:
                out[cid] = ref
    elif sch.trigger == "churn_risk":
        pred = store.read_frame(
            "SELECT customer_id, value FROM predictions WHERE name = 'churn_probability' AND value > :t", {"t": sch.threshold}
        )
        month = now.strftime("%Y-%m")
        for cid in pred["customer_id"]:
            ref = f"churn:{cid}:{month}"
            if ref not in done:
                out[cid] = ref
    return out


def due_runs(store: Any, spec: CampaignSpec, now: datetime) -> list[tuple[str, dict[str, str] | None]]:
    """The run keys (and triggered customers) due for a campaign at ``now``."""
    sch = spec.schedule
    if sch.type == "once":
        return [(f"{spec.name}:once", None)]
    if sch.type == "recurring":
        last = _last_run(store, spec.name)
        start = last or (now - timedelta(days=1))
        it = croniter(sch.cron, start)
        occ = None
        while True:
            nxt = it.get_next(datetime)
            if nxt > now:
                break
            occ = nxt
        return [(f"{spec.name}:{occ.isoformat()}", None)] if occ is not None else []
    refs = triggered(store, spec, now)
    return [(f"{spec.name}:trigger:{now.strftime('%Y%m%dT%H%M%S')}", refs)] if refs else []


@dataclass
class TickReport:
    """What one scheduling pass did: the runs it planned, and the campaigns it skipped with why (name → error)."""

    planned: list[PlanResult] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


def plan_due(store: Any, settings: Settings, *, now: datetime | None = None) -> TickReport:
    """Plan every run that is due for the active campaigns.

    A campaign that cannot be planned (an unknown segment, a stored spec this version rejects…) is skipped, logged and
    reported in ``failed``; the others are planned all the same. A key rotation in progress stops the pass (it
    concerns every campaign).
    """
    from persona.privacy.keysource import KeyRotatedError, KeyRotationPending

    now = now or datetime.now(UTC)
    rows = store.read_frame("SELECT name, spec FROM campaigns WHERE status = 'active' ORDER BY name")
    report = TickReport()
    for name, spec_json in zip(rows["name"], rows["spec"], strict=True):
        try:
            spec = CampaignSpec.model_validate(spec_json if isinstance(spec_json, dict) else json.loads(spec_json))
            for run_key, refs in due_runs(store, spec, now):
                res = plan_campaign(
                    store, settings, spec, run_key=run_key, now=now,
                    only_customers=list(refs) if refs is not None else None, trigger_refs=refs,
                )
                if res.created:
                    report.planned.append(res)
        except (KeyRotationPending, KeyRotatedError):
            raise
        except (PersonaError, ValidationError, ValueError) as exc:  # this campaign's own problem: the others go on
            why = str(exc) if isinstance(exc, PersonaError) else f"invalid stored spec: {exc}"
            why = " ".join(why.split())  # one line
            report.failed[str(name)] = why
            log.info("campaign=%s skipped: %s", name, why)  # the caller reports it (the CLI prints it)
    return report


def tick(store: Any, settings: Settings, *, now: datetime | None = None) -> list[PlanResult]:
    """Plan every run that is due for the active campaigns (see :func:`plan_due`; skipped campaigns are logged)."""
    return plan_due(store, settings, now=now).planned
