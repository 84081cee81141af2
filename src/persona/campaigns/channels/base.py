"""The channel protocol, the rendered message it sends, and the factory that builds one from a spec."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from persona.campaigns.spec import ChannelSpec

Outcome = Literal["sent", "transient", "permanent"]


@dataclass
class OutgoingMessage:
    """A fully rendered message for one customer on one channel (built at send time, never stored)."""

    message_id: str
    campaign: str
    customer_id: str
    to_address: str | None
    subject: str
    html: str
    text: str
    unsubscribe_url: str
    payload: dict[str, Any] = field(default_factory=dict)  # strategy, offer, items (no PII)


@dataclass
class DeliveryResult:
    """What happened: ``sent``; ``transient`` (retry later); ``permanent`` (give up, with the reason)."""

    outcome: Outcome
    reason: str = ""
    duplicate: bool = False  # the channel already had this message id: nothing was sent again


class Channel(Protocol):
    """Sends one message; sending the same ``message_id`` twice must not deliver it twice where the channel can tell."""

    name: str

    def send(self, message: OutgoingMessage) -> DeliveryResult: ...

    def close(self) -> None: ...


def make_channel(spec: ChannelSpec, workspace: Path, campaign: str) -> Channel:
    """Build the channel a spec describes (outbox files under the workspace by default)."""
    if spec.type == "email":
        from persona.campaigns.channels.email import EmailChannel

        return EmailChannel(spec)
    if spec.type == "webhook":
        from persona.campaigns.channels.webhook import WebhookChannel

        return WebhookChannel(spec)
    from persona.campaigns.channels.files import ExportChannel, OutboxChannel

    if spec.type == "export":
        return ExportChannel(Path(spec.path) if spec.path else workspace / "exports" / f"{campaign}.{spec.format}", spec.format)
    return OutboxChannel(Path(spec.path) if spec.path else workspace / "outbox" / campaign)
