"""File channels: an outbox folder of .eml files (the safe default) and audience exports for ad platforms.

Exports carry the SHA-256 of the normalized e-mail address (what ad platforms match on), never the address.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from pathlib import Path

from persona.campaigns.channels.base import DeliveryResult, OutgoingMessage
from persona.campaigns.channels.email import build_email
from persona.jsonvalues import dumps


class OutboxChannel:
    """Writes each message as ``<message_id>.eml`` (atomically); an existing file means already sent."""

    name = "outbox"

    def __init__(self, folder: Path, from_address: str = "Persona Shop <shop@example.com>") -> None:
        self.folder = folder
        self.from_address = from_address
        folder.mkdir(parents=True, exist_ok=True)

    def send(self, message: OutgoingMessage) -> DeliveryResult:
        target = self.folder / f"{message.message_id}.eml"
        if target.exists():
            return DeliveryResult("sent", duplicate=True)
        tmp = target.with_suffix(".tmp")
        tmp.write_bytes(build_email(message, self.from_address))
        os.replace(tmp, target)
        return DeliveryResult("sent")

    def close(self) -> None:
        return None


class ExportChannel:
    """Appends one row per customer to a CSV or JSON-lines audience file, once per message id."""

    name = "export"
    FIELDS = ["message_id", "campaign", "customer_id", "email_sha256", "strategy", "offer", "items"]

    def __init__(self, path: Path, fmt: str = "jsonl") -> None:
        self.path = path
        self.fmt = fmt
        path.parent.mkdir(parents=True, exist_ok=True)
        self._seen: set[str] = set()
        if path.exists():
            with path.open(encoding="utf-8", newline="") as fh:
                if fmt == "csv":
                    self._seen = {row["message_id"] for row in csv.DictReader(fh)}
                else:
                    for line in fh:
                        try:
                            self._seen.add(json.loads(line)["message_id"])
                        except (ValueError, KeyError):
                            continue  # a torn last line from a crash: the message is re-exported
        self._fh = path.open("a", encoding="utf-8", newline="")
        if fmt == "csv" and path.stat().st_size == 0:
            csv.writer(self._fh).writerow(self.FIELDS)

    def send(self, message: OutgoingMessage) -> DeliveryResult:
        if message.message_id in self._seen:
            return DeliveryResult("sent", duplicate=True)
        row = {
            "message_id": message.message_id,
            "campaign": message.campaign,
            "customer_id": message.customer_id,
            "email_sha256": hashlib.sha256(message.to_address.strip().lower().encode()).hexdigest()
            if message.to_address
            else "",
            "strategy": message.payload.get("strategy", ""),
            "offer": dumps(message.payload.get("offer", {}), compact=False),  # numpy numbers stay numbers
            "items": dumps([i.get("product_id") for i in message.payload.get("items", [])], compact=False),
        }
        if self.fmt == "csv":
            csv.writer(self._fh).writerow([row[f] for f in self.FIELDS])
        else:
            self._fh.write(dumps(row, compact=False) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._seen.add(message.message_id)
        return DeliveryResult("sent")

    def close(self) -> None:
        self._fh.close()
