"""Stage ``campaigns``: one demo campaign with a strategy per segment, delivered to the local outbox.

Nothing leaves the machine: messages are written as .eml files under ``WORKSPACE/outbox``.
"""

from __future__ import annotations

import html
from typing import Any

import pandas as pd

from persona.pipeline.stage import RunContext, Section, Stage, StageResult

# The playbook: which strategy each RFM segment gets (segments not listed get new arrivals).
PLAYBOOK: dict[str, tuple[str, dict[str, Any]]] = {
    "champions": ("coupon", {"discount_pct": 10}),  # frequent buyers: a thank-you coupon
    "loyal": ("coupon", {"discount_pct": 10}),
    "prospects": ("recommendations", {}),  # new customers: personal picks
    "new": ("recommendations", {}),
    "at_risk": ("winback", {"discount_pct": 20}),  # churn risks: win-back offer
    "cant_lose_them": ("winback", {"discount_pct": 20}),
    "about_to_sleep": ("winback", {"discount_pct": 15}),
    "hibernating": ("winback", {"discount_pct": 20}),
    "lost": ("winback", {"discount_pct": 25}),
}


def demo_spec(segment_ids: list[str]) -> dict[str, Any]:
    """A campaign spec with one group per segment of the playbook present; rare buyers get new arrivals."""
    groups: list[dict[str, Any]] = []
    for seg in segment_ids:
        if seg in PLAYBOOK:
            strategy, offer = PLAYBOOK[seg]
            groups.append({"name": seg, "segments": [f"rfm:{seg}"], "strategy": strategy, "offer": offer})
    groups.append({"name": "rare_buyers", "strategy": "new_arrivals"})  # potential loyalists, promising, need attention…
    return {
        "name": "persona-run-demo",
        "description": "Persona demo shop",
        "groups": groups,
        "channels": ["outbox"],
        "experiment": {"holdout": 0.1, "variants": {"A": 1.0}},
        "frequency_cap": {"max_messages": 3, "per_days": 7},
    }


def parity_html(parity: dict[str, Any]) -> str:
    """The plan's parity block (``budget.parity``) as HTML: its sentences and the contact rate of each group."""
    from persona.campaigns.parity import parity_lines

    rows = "".join(
        f"<tr><td>{html.escape(g['group'])}</td><td>{g['audience']}</td>"
        + "".join(f"<td>{'' if g[c] is None else g[c]}</td>" for c in ("contacted_before", "rate_before", "contacted_after", "rate_after"))
        + "</tr>"
        for g in parity["groups"]
    )
    return ("".join(f"<p>{html.escape(line)}</p>" for line in parity_lines(parity))
            + f"<table><tr><th>{html.escape(parity['attribute'])}</th><th>live audience</th><th>contacted before</th>"
            f"<th>rate before</th><th>contacted after</th><th>rate after</th></tr>{rows}</table>")


def run(ctx: RunContext) -> StageResult:
    from persona.campaigns.planner import plan_campaign
    from persona.campaigns.spec import CampaignSpec
    from persona.campaigns.status import campaign_status
    from persona.campaigns.worker import Worker

    store = ctx.store
    segs = store.read_frame("SELECT DISTINCT segment_id FROM segment_memberships WHERE method = 'rfm'")["segment_id"].tolist()
    spec = CampaignSpec.model_validate(demo_spec(sorted(segs)))
    last = store.read_frame("SELECT MAX(ts) AS t FROM events")["t"].iloc[0]
    day = pd.Timestamp(last).strftime("%Y-%m-%d") if last is not None and not pd.isna(last) else "empty"
    plan = plan_campaign(store, ctx.settings, spec, run_key=f"{spec.name}:{day}", recommender=ctx.artifacts.get("recommender"))
    Worker(store, ctx.settings).run(spec.name)
    status = campaign_status(store, spec.name)
    notes = ([] if segs else ["no RFM segments: every customer got the new-arrivals strategy"]) + plan.notes
    res = StageResult(
        figures={
            "planned": status["planned"],
            "sent": status["sent"],
            "suppressed": status["suppressed"],
            "holdout": status["holdout"],
            "failed": status["failed"],
            "by_group": plan.by_group,
            "suppressed_reasons": status["suppressed_reasons"],
            "outbox": str(ctx.settings.workspace / "outbox" / spec.name),
            "notes": notes,
        },
        message=f"{status['sent']} sent to the local outbox, {status['suppressed']} suppressed, {status['holdout']} held out",
    )
    rows = "".join(
        f"<tr><td>{html.escape(g['name'])}</td><td>{html.escape(g['strategy'])}</td><td>{html.escape(', '.join(g.get('segments', [])) or 'everyone else')}</td>"
        f"<td>{plan.by_group.get(g['name'], 0)}</td></tr>"
        for g in spec.model_dump()["groups"]
    )
    reasons = "".join(f"<li>{html.escape(str(k))}: {v}</li>" for k, v in status["suppressed_reasons"].items())
    if plan.parity is not None:
        res.figures["parity"] = plan.parity
    sec = Section(
        "Campaign: a strategy per segment",
        f"<table><tr><th>group</th><th>strategy</th><th>segments</th><th>customers</th></tr>{rows}</table>"
        f"<p>Sent {status['sent']} (to <code>outbox/</code>, nothing leaves the machine), held out {status['holdout']} "
        f"for measurement, suppressed {status['suppressed']}:</p><ul>{reasons}</ul>"
        + (parity_html(plan.parity) if plan.parity is not None else "")
        + "".join(f"<p class='muted'>{html.escape(n)}</p>" for n in notes),
    )
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 2.6))
    labels = ["sent", "holdout", "suppressed", "failed"]
    ax.barh(labels, [status[k] for k in labels], color=["#2b8a3e", "#868e96", "#e67700", "#c92a2a"])
    ax.set_xlabel("messages")
    sec.add_figure(fig)
    res.sections.append(sec)
    return res


CAMPAIGNS = Stage("campaigns", "Campaigns", run, requires=("ingest",))
