"""Preview: render exactly what one customer would receive from a campaign, without sending or storing."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from persona.campaigns.audience import EXCLUSION_REASONS, customer_frame, describe_audience, select_audience
from persona.campaigns.channels import OutgoingMessage
from persona.campaigns.context import build_context
from persona.campaigns.planner import _code_for, message_id
from persona.campaigns.spec import CampaignSpec
from persona.campaigns.strategies import plan_group
from persona.campaigns.worker import Worker
from persona.config import Settings
from persona.errors import InputError, NotFoundError
from persona.store.models import Customer, Message


def preview(store: Any, settings: Settings, spec: CampaignSpec, customer_id: str, *, recommender: Any = None) -> OutgoingMessage:
    """The rendered message for ``customer_id``: the planned outbox row if there is one, else a fresh plan.

    Raises:
        NotFoundError: unknown customer.
        InputError: the customer is not in the campaign's audience (the message says why).
    """
    with store.session() as s:
        cust = s.get(Customer, customer_id)
        planned = s.scalar(
            select(Message).where(Message.campaign == spec.name, Message.customer_id == customer_id).order_by(Message.id.desc())
        )
    if cust is None or cust.erased_at is not None:
        raise NotFoundError(f"no customer {customer_id!r}", hint="check the id: it is the customer_id of the customers you ingested (`persona profiles show ID` shows one)")
    worker = Worker(store, settings)
    worker._specs[spec.name] = spec
    to_addr = worker.cipher.decrypt(cust.email_enc)
    if planned is None:
        # the segments are checked against every customer: one this customer is not in is not "unknown"
        sel = select_audience(customer_frame(store), spec, only_customers=[customer_id])
        if sel.members.empty:
            why = ", ".join(EXCLUSION_REASONS.get(k, k) for k, n in sel.excluded.items() if n)
            raise InputError(
                f"customer {customer_id!r} is not in the audience of campaign {spec.name!r} "
                f"({why + '; audience: ' if why else ''}{describe_audience(spec)})",
                hint="preview a customer of the audience, or change the campaign's audience",
            )
        group = next(g for g in spec.groups if g.name == sel.members.at[0, "group"])
        ctx = build_context(store, spec, _code_for(settings, spec.name), recommender=recommender)
        plan = plan_group(sel.members, group, ctx)[0]
        planned = Message(
            message_id=message_id(f"{spec.name}:preview", customer_id, spec.channels[0].type),
            campaign=spec.name,
            customer_id=customer_id,
            channel=spec.channels[0].type,
            strategy=plan["strategy"],
            payload={"offer": plan["offer"], "items": plan["items"], "template": plan["template"], "group": plan["group"]},
            status="preview",
        )
    return worker._render(planned, spec, cust, to_addr)
