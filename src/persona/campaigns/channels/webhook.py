"""Signed webhooks: JSON POST with an HMAC-SHA256 signature over ``timestamp.body`` and an idempotency key."""

from __future__ import annotations

import hashlib
import hmac
import os
import time

import httpx

from persona.campaigns.channels.base import DeliveryResult, OutgoingMessage
from persona.campaigns.spec import ChannelSpec
from persona.errors import ConfigError
from persona.jsonvalues import dumps

SIGNATURE_HEADER = "X-Persona-Signature"
TIMESTAMP_HEADER = "X-Persona-Timestamp"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` of HMAC-SHA256(secret, timestamp + "." + body): what receivers recompute."""
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str, *, tolerance_s: float = 300) -> bool:
    """Receiver side: the signature matches and the timestamp is recent (replay protection)."""
    if abs(time.time() - float(timestamp)) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


class WebhookChannel:
    """POSTs each message as JSON. 2xx: sent; 408/429/5xx/timeouts: transient; other 4xx: permanent."""

    name = "webhook"

    def __init__(self, spec: ChannelSpec) -> None:
        self.spec = spec
        self.secret = os.environ.get(spec.secret_env, "") if spec.secret_env else ""
        if spec.secret_env and not self.secret:
            raise ConfigError(f"webhook secret variable {spec.secret_env} is not set", hint=f"export {spec.secret_env}=…")
        self._client = httpx.Client(timeout=spec.timeout)

    def send(self, message: OutgoingMessage) -> DeliveryResult:
        body = dumps(
            {
                "message_id": message.message_id,
                "campaign": message.campaign,
                "customer_id": message.customer_id,
                "subject": message.subject,
                "text": message.text,
                "unsubscribe_url": message.unsubscribe_url,
                **{k: v for k, v in message.payload.items() if k in ("strategy", "offer", "items", "variant")},
            },
            compact=False,
        ).encode("utf-8")
        ts = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": message.message_id,
            TIMESTAMP_HEADER: ts,
        }
        if self.secret:
            headers[SIGNATURE_HEADER] = sign(self.secret, ts, body)
        try:
            r = self._client.post(self.spec.url or "", content=body, headers=headers)
        except httpx.TimeoutException:
            return DeliveryResult("transient", f"webhook timed out after {self.spec.timeout:g} s")
        except httpx.HTTPError as exc:
            return DeliveryResult("transient", f"webhook unreachable: {exc}")
        if 200 <= r.status_code < 300:
            return DeliveryResult("sent")
        reason = f"webhook answered HTTP {r.status_code}: {r.text[:200]}"
        if r.status_code in (408, 425, 429) or r.status_code >= 500:
            return DeliveryResult("transient", reason)
        return DeliveryResult("permanent", reason)

    def close(self) -> None:
        self._client.close()
