"""Delivery channels. Each has ``send(message) -> DeliveryResult`` and is idempotent on the message id."""

from persona.campaigns.channels.base import Channel, DeliveryResult, OutgoingMessage, make_channel

__all__ = ["Channel", "DeliveryResult", "OutgoingMessage", "make_channel"]
