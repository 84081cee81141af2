"""Planning a campaign run: audience, experiment arms, consent, strategy per group, budget, outbox rows.

Every intended send is written to the outbox (``messages``) in one transaction before anything is
sent; a run is identified by its ``run_key``, so planning the same run twice adds nothing.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select

from persona.campaigns.audience import audience_problems, customer_frame, select_audience
from persona.campaigns.context import build_context
from persona.campaigns.parity import enforce_parity, take_in_order
from persona.campaigns.spec import Budget, CampaignSpec, problems_error
from persona.campaigns.strategies import UPLIFT_PRIOR, plan_group
from persona.campaigns.templates import validate_template
from persona.config import Settings
from persona.errors import InputError
from persona.privacy.consent import consent_state
from persona.store.models import Campaign, CampaignRun, Message

log = logging.getLogger(__name__)


@dataclass
class PlanResult:
    """What a planning step did; ``created`` is False when the run already existed."""

    campaign: str
    run_id: int
    run_key: str
    created: bool
    counts: dict[str, int] = field(default_factory=dict)
    by_group: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    #: with ``budget.parity``: the :class:`~persona.campaigns.parity.ParityResult` as a dict, else None
    parity: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def message_id(run_key: str, customer_id: str, channel: str) -> str:
    """Deterministic outbox id: the same (run, customer, channel) always gets the same id."""
    return hashlib.sha256(f"{run_key}\x1f{customer_id}\x1f{channel}".encode()).hexdigest()[:32]


def consent_channel(channel_type: str) -> str:
    """The consent channel a delivery channel needs (e-mail for mail and the mail outbox)."""
    return {"outbox": "email", "email": "email", "export": "ads", "webhook": "push"}.get(channel_type, channel_type)


def validate_campaign(store: Any | None, spec: CampaignSpec) -> list[str]:
    """Check everything that can be checked before sending: templates, segments, predicate fields, the parity
    attribute.

    Returns notes (warnings).

    Raises:
        InputError: listing every mistake found, each as ``source:line:column: field: problem`` (where the spec came
            from a file), not only the first.
    """
    problems: list[tuple[tuple[Any, ...], str]] = []
    for i, g in enumerate(spec.groups):
        try:
            validate_template(g.template, g.strategy)
        except InputError as exc:
            problems.append((("groups", i, "template"), str(exc)))
    notes: list[str] = []
    if store is not None:
        frame = customer_frame(store)
        problems += audience_problems(frame, spec)
        if spec.budget is not None and spec.budget.parity is not None:  # raises when the customers lack the attribute
            try:
                _parity_labels(store, spec.budget.parity.attribute, frame["customer_id"].head(0))
            except InputError as exc:
                problems.append((("budget", "parity", "attribute"), str(exc)))
    lines = [f"{spec.where(loc)}: {'.'.join(map(str, loc))}: {message}" for loc, message in problems]
    if len(lines) == 1:  # one mistake: its own message and hint, located
        raise InputError(lines[0])
    if lines:
        raise problems_error(lines)
    return notes


def save_campaign(store: Any, spec: CampaignSpec, *, status: str = "active") -> None:
    """Create or update the stored campaign spec."""
    with store.session() as s:
        _upsert_campaign(s, spec, status)


def _upsert_campaign(s: Any, spec: CampaignSpec, status: str = "active") -> None:
    """Create or update the stored campaign spec in the session ``s`` (committed with whatever else it writes)."""
    now = datetime.now(UTC)
    row = s.get(Campaign, spec.name)
    if row is None:
        s.add(Campaign(name=spec.name, spec=spec.model_dump(mode="json"), status=status, created_at=now, updated_at=now))
    else:
        row.spec = spec.model_dump(mode="json")
        row.status = status
        row.updated_at = now


def _code_for(settings: Settings, campaign: str):  # noqa: ANN202
    from persona.privacy.crypto import PIICipher

    cipher = PIICipher.from_settings(settings)
    return lambda cid: cipher.pseudonym(f"coupon:{campaign}:{cid}")[:8].upper()


def _economics(plans: pd.DataFrame, budget: Budget) -> tuple[np.ndarray, np.ndarray]:
    """Each customer's expected incremental profit and expected cost under the budget's economics.

    Expected profit = uplift × average order value × margin − message cost − expected discount cost; the cost
    is the message plus the expected discount.
    """
    aov = plans["aov"].fillna(plans["aov"].median() if plans["aov"].notna().any() else 50.0).clip(lower=1.0)
    disc = plans["discount_pct"].fillna(0) / 100.0
    p_buy = plans["base_rate"].fillna(0.05) + plans["uplift"]
    value = plans["uplift"] * aov * budget.margin - budget.cost_per_message - disc * aov * p_buy
    cost = budget.cost_per_message + disc * aov * p_buy
    return value.to_numpy(dtype=np.float64), cost.to_numpy(dtype=np.float64)


def _greedy(value: np.ndarray, cost: np.ndarray, total: float) -> np.ndarray:
    """Who gets a message under the budget: highest expected profit per unit cost first, skipping whoever no
    longer fits, until the first non-positive profit. The planner passes only the live audience: outside the
    holdouts and reachable on a channel (consent, an address), so the budget is not spent on the unreachable.

    Exactly the one-by-one loop (same order, same float sums), run as prefix sums: each round takes the prefix
    that fits, skips the customer that does not, and carries on with those of the rest that still can fit.
    """
    order = np.argsort(-(value / np.clip(cost, 1e-6, None)), kind="stable")
    stop = np.flatnonzero(value[order] <= 0)
    order = order[: stop[0]] if len(stop) else order
    keep = np.zeros(len(value), dtype=bool)
    spent = 0.0
    if (cost < 0).any():  # a negative expected cost can make room again: only the plain loop is exact
        for i in order:
            if spent + cost[i] <= total:
                spent += cost[i]
                keep[i] = True
        return keep
    take_in_order(keep, order, cost, total)
    return keep


def _reachable(members: pd.DataFrame, channels: list[Any], consents: dict[str, dict[str, bool]]) -> pd.Series:
    """Customers at least one of the campaign's channels may contact (consent, and an address for mail)."""
    ok = pd.Series(False, index=members.index)
    for ch in channels:
        c = members["customer_id"].map(consents[ch.type]).fillna(False).astype(bool)
        if ch.type in ("email", "outbox"):
            c &= members["has_email"].astype(bool)
        ok |= c
    return ok


def _parity_labels(store: Any, attribute: str, customer_ids: pd.Series) -> np.ndarray:
    """The fairness audit's group label of each customer for ``attribute`` (ages in the year of the newest event)."""
    from persona.fairness.workspace import workspace_groups

    try:
        groups = workspace_groups(store, [attribute])[attribute]
    except InputError as exc:
        raise InputError(f"budget.parity cannot balance by {attribute!r}: {exc.message}", hint=exc.hint) from exc
    return customer_ids.astype(str).map(groups).fillna("unknown").to_numpy(dtype=object)


def plan_campaign(
    store: Any,
    settings: Settings,
    spec: CampaignSpec,
    *,
    run_key: str | None = None,
    now: datetime | None = None,
    only_customers: list[str] | None = None,
    trigger_refs: dict[str, str] | None = None,
    recommender: Any = None,
) -> PlanResult:
    """Plan one run of a campaign and write its outbox rows (idempotent on ``run_key``).

    Args:
        store: the workspace store.
        settings: workspace settings (secret key, global holdout share).
        spec: a validated campaign spec.
        run_key: identifies the run; default ``NAME:once`` for one-off campaigns.
        now: planning time (default now).
        only_customers: restrict the audience (event-triggered runs).
        trigger_refs: per customer, the event that triggered the message (kept in the payload).
        recommender: a fitted recommender to use instead of the registry's.

    Returns:
        A :class:`PlanResult`; with ``budget.parity`` its ``parity`` block (see
        :func:`persona.campaigns.parity.enforce_parity`), kept with the run so that re-planning returns it.

    Raises:
        InputError: a bad template or audience, or a parity attribute the customers do not carry.
    """
    now = now or datetime.now(UTC)
    run_key = run_key or f"{spec.name}:once"
    # Nothing is stored before the plan is known to succeed: the campaign is saved with its run and outbox rows in
    # one transaction, so a plan that fails (an unknown segment…) leaves no active campaign for the worker to trip on.
    with store.session() as s:
        existing = s.scalar(select(CampaignRun).where(CampaignRun.run_key == run_key))
        stored = s.get(Campaign, spec.name)
        unchanged = stored is not None and stored.status == "active" and stored.spec == spec.model_dump(mode="json")
        if existing is not None:
            stats = existing.stats or {}
            done = PlanResult(spec.name, existing.id, run_key, False, counts=dict(stats.get("counts", {})), parity=stats.get("parity"))
    if existing is not None:
        if not unchanged:  # a changed spec for a run planned before: stored (re-activated) only once it checks out
            validate_campaign(store, spec)
            save_campaign(store, spec)
        return done
    for g in spec.groups:
        validate_template(g.template, g.strategy)

    frame = customer_frame(store)
    sel = select_audience(frame, spec, only_customers=only_customers)
    if spec.budget is not None and spec.budget.parity is not None:  # before any experiment exposure is logged
        _parity_labels(store, spec.budget.parity.attribute, frame["customer_id"].head(0))
    members = sel.members
    counts: dict[str, int] = dict(sel.excluded)
    status = pd.Series("planned", index=members.index, dtype=object)
    reason = pd.Series(None, index=members.index, dtype=object)
    variant = pd.Series(None, index=members.index, dtype=object)

    def suppress(mask: pd.Series, st: str, why: str) -> None:
        m = mask & (status == "planned")
        status[m] = st
        reason[m] = why

    # the global holdout is never contacted; the campaign's own experiment keeps a holdout arm
    if settings.global_holdout > 0 and len(members):
        from persona.experiments.assignment import global_holdout_mask

        gh = global_holdout_mask(members["customer_id"], share=settings.global_holdout).to_numpy()
        suppress(pd.Series(gh, index=members.index), "holdout", "global holdout")
    exp_name = None
    if spec.experiment is not None and len(members):
        from persona.experiments.assignment import (
            HOLDOUT_VARIANT,
            ExperimentSpec,
            assign,
            log_exposure,
            save_experiment,
        )

        exp = ExperimentSpec(name=f"campaign:{spec.name}", variants=spec.experiment.variants, holdout=spec.experiment.holdout)
        save_experiment(store, exp)
        arms = assign(exp, members["customer_id"])
        variant[:] = arms.to_numpy()
        suppress(variant == HOLDOUT_VARIANT, "holdout", "experiment holdout")
        exposed = members["customer_id"][status.isin(["planned", "holdout"]) & (reason != "global holdout")]
        log_exposure(store, exp, arms[arms.index.isin(exposed)])
        exp_name = exp.name

    channels = spec.channels
    consents = {
        ch: consent_state(store, consent_channel(ch), spec.purpose, list(members["customer_id"])) for ch in {c.type for c in channels}
    }

    ctx = build_context(store, spec, _code_for(settings, spec.name), now=now, recommender=recommender)
    plans: dict[str, dict[str, Any]] = {}
    by_group: dict[str, int] = {}
    for g in spec.groups:
        gm = members[(members["group"] == g.name) & (status == "planned")]
        by_group[g.name] = int((members["group"] == g.name).sum())
        for p in plan_group(gm, g, ctx):
            plans[p["customer_id"]] = p
    # cart reminders without a cart have nothing to say
    empty = members["customer_id"].map(lambda c: c in plans and plans[c]["strategy"] == "cart_abandonment" and not plans[c]["items"])
    suppress(empty.astype(bool), "suppressed", "nothing in the cart")

    parity: dict[str, Any] | None = None
    if spec.budget is not None:
        # the budget chooses among customers a channel may reach: nobody else would be contacted anyway
        live = members[(status == "planned") & _reachable(members, channels, consents)]
        value = cost = np.zeros(0)
        if len(live):
            uplift_pred = store.read_frame("SELECT customer_id, value FROM predictions WHERE name = 'uplift'")
            up = dict(zip(uplift_pred["customer_id"], uplift_pred["value"], strict=True))
            rows = pd.DataFrame(
                {
                    "uplift": [up.get(c, UPLIFT_PRIOR[plans[c]["strategy"]]) for c in live["customer_id"]],
                    "aov": live["aov"] if "aov" in live else np.nan,
                    "base_rate": live["purchase_propensity"] if "purchase_propensity" in live else np.nan,
                    "discount_pct": [plans[c]["offer"].get("discount_pct", 0) for c in live["customer_id"]],
                },
                index=live.index,
            ).astype(float)
            value, cost = _economics(rows, spec.budget)
        keep = _greedy(value, cost, spec.budget.total)
        pc = spec.budget.parity
        if pc is not None:
            assert pc.min_group is not None  # filled in by the spec's validation
            labels = _parity_labels(store, pc.attribute, live["customer_id"])
            keep, pres = enforce_parity(keep, value, cost, labels, budget=spec.budget.total, min_ratio=pc.min_ratio,
                                        min_group=pc.min_group, attribute=pc.attribute)
            parity = pres.to_dict()
            log.info("campaign=%s parity=%s feasible=%s swapped_in=%d swapped_out=%d", spec.name, pc.attribute,
                     pres.feasible, pres.swapped_in, pres.swapped_out)
        suppress(pd.Series(~keep, index=live.index).reindex(members.index, fill_value=False), "suppressed", "budget")

    rows_out: list[dict[str, Any]] = []
    group_strategy: dict[str, str] = {}
    for g in spec.groups:  # the first group of a name, as the audience assigns
        group_strategy.setdefault(g.name, g.strategy)
    columns = (members["customer_id"], status, reason, variant, members["group"], members["has_email"])
    for cid, st0, why0, arm, group, has_email in zip(*(c.tolist() for c in columns), strict=True):
        for ch in channels:
            st, why = st0, why0
            if st == "planned" and not consents[ch.type].get(cid, False):
                st, why = "suppressed", f"no {consent_channel(ch.type)} consent for {spec.purpose}"
            if st == "planned" and ch.type in ("email", "outbox") and not bool(has_email):
                st, why = "suppressed", "no e-mail address"
            plan = plans.get(cid, {})
            rows_out.append(
                {
                    "message_id": message_id(run_key, cid, ch.type),
                    "campaign": spec.name,
                    "customer_id": cid,
                    "channel": ch.type,
                    "variant": arm,
                    "strategy": plan.get("strategy") or group_strategy[group],
                    "payload": {
                        "group": group,
                        "offer": plan.get("offer", {}),
                        "items": plan.get("items", []),
                        "template": plan.get("template"),
                        "trigger": (trigger_refs or {}).get(cid),
                        "experiment": exp_name,
                    },
                    "status": st,
                    "reason": why,
                    "attempts": 0,
                    "created_at": now,
                }
            )
    counts.update(pd.Series([r["status"] for r in rows_out], dtype=object).value_counts().to_dict() if rows_out else {})
    with store.session() as s:
        _upsert_campaign(s, spec)
        s.flush()  # the run's foreign key needs the campaign row
        stats = {"counts": counts, "notes": ctx.notes, "parity": parity}
        if trigger_refs:  # every trigger this run handled, those that led to no message too (see scheduler.triggered)
            stats["triggers"] = sorted(set(trigger_refs.values()))
        run = CampaignRun(campaign=spec.name, run_key=run_key, planned_at=now, status="planned", stats=stats)
        s.add(run)
        s.flush()
        for r in rows_out:
            r["run_id"] = run.id
        if rows_out:
            s.execute(Message.__table__.insert(), rows_out)
        run_id = run.id
    log.info("campaign=%s run=%s planned=%d", spec.name, run_key, len(rows_out))
    return PlanResult(spec.name, run_id, run_key, True, counts=counts, by_group=by_group, notes=ctx.notes, parity=parity)
