"""Delivery: sends what the outbox holds, once, re-checking consent, caps and quiet hours at send time.

Each message moves ``planned/retry → sending → sent | retry | failed | suppressed``; every step is
committed before the next, so a worker killed at any moment leaves a consistent outbox. Only one
worker per workspace sends at a time (a lock the operating system or PostgreSQL releases when the
process dies); on start it returns messages left ``sending`` by a dead worker to the queue. Such a
message may have reached the server just before the crash: it is re-sent with the same Message-ID
(idempotency key), which mail stores and webhook receivers use to drop the duplicate, and counted
as ``resent_after_crash`` in the campaign status.
"""

from __future__ import annotations

import logging
import queue
from collections import defaultdict, deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import DateTime, bindparam, func, select, text, update

from persona.campaigns.channels import Channel, DeliveryResult, OutgoingMessage, make_channel
from persona.campaigns.planner import consent_channel
from persona.campaigns.spec import CampaignSpec, ChannelSpec
from persona.campaigns.templates import render
from persona.campaigns.tracking import Signer, click_url, open_url, unsubscribe_url
from persona.config import Settings
from persona.errors import InputError, PersonaError
from persona.privacy.consent import consent_state
from persona.privacy.crypto import PIICipher
from persona.privacy.keysource import CipherSource
from persona.store.locks import workspace_lock
from persona.store.models import Campaign, Customer, Message

log = logging.getLogger(__name__)
DUE = ("planned", "retry")
BREAKER = 5  # consecutive transient failures on a channel before the pass stops for that channel
PG_LOCK_KEY = 0x7065727341  # "persA"
# The three writes of the hot path as prepared statements (compiled once; dates processed as the ORM does).
_TS = DateTime(timezone=True)
_CLAIM = text("UPDATE messages SET status = 'sending', attempts = attempts + 1 WHERE id = :id AND status IN ('planned', 'retry')")
_FINISH = text(
    "UPDATE messages SET status = :status, reason = :reason, sent_at = :sent_at, next_attempt_at = :next_attempt_at WHERE id = :id"
).bindparams(bindparam("sent_at", type_=_TS), bindparam("next_attempt_at", type_=_TS))
_DEFER = text("UPDATE messages SET next_attempt_at = :next_attempt_at, reason = 'quiet hours' WHERE id = :id").bindparams(
    bindparam("next_attempt_at", type_=_TS)
)


@dataclass
class DeliveryStats:
    sent: int = 0
    failed: int = 0
    suppressed: int = 0
    retry: int = 0
    deferred: int = 0
    recovered: int = 0
    reasons: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["reasons"] = dict(self.reasons)
        return d


@contextmanager
def worker_lock(store: Any, settings: Settings) -> Iterator[None]:
    """Hold the workspace's delivery lock for the duration; fail clearly if another worker has it."""
    where = "database" if store.dialect == "postgresql" else "workspace"
    with workspace_lock(store, settings, "delivery", pg_key=PG_LOCK_KEY, hint="wait for it to finish",
                        busy=f"another campaign worker is delivering for this {where}"):
        yield


def _quiet_until(now: datetime, tz_name: str | None, start: str, end: str) -> datetime | None:
    """When the customer's quiet hours end, if ``now`` falls inside them; else None."""
    try:
        tz = ZoneInfo(tz_name) if tz_name else UTC
    except (ZoneInfoNotFoundError, ValueError):
        tz = UTC
    local = now.astimezone(tz)
    s, e = time.fromisoformat(start), time.fromisoformat(end)
    t = local.time()
    inside = (s <= t < e) if s < e else (t >= s or t < e)
    if not inside:
        return None
    end_dt = local.replace(hour=e.hour, minute=e.minute, second=0, microsecond=0)
    if end_dt <= local:
        end_dt += timedelta(days=1)
    return end_dt.astimezone(UTC)


@dataclass
class _Batch:
    """State of one pass over a batch of due messages: the customers, cached checks and sends in flight."""

    stats: DeliveryStats
    broken: set[tuple[str, str]]
    now: datetime
    cids: list[str]
    custs: dict[str, Customer]
    consent: dict[tuple[str, str], dict[str, bool]] = field(default_factory=dict)
    sent_recent: dict[tuple[float | str, ...], dict[str, int]] = field(default_factory=dict)
    failures: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    inflight: deque[tuple[Message, CampaignSpec, Future[DeliveryResult]]] = field(default_factory=deque)


class _Sender:
    """Sends through ``len(channels)`` parallel connections (one channel object per thread); one runs inline."""

    def __init__(self, channels: list[Channel]) -> None:
        self.size = len(channels)
        self._free: queue.SimpleQueue[Channel] = queue.SimpleQueue()
        for ch in channels:
            self._free.put(ch)
        self._channels = channels
        self._pool = ThreadPoolExecutor(max_workers=self.size, thread_name_prefix="persona-send") if self.size > 1 else None

    def _send(self, msg: OutgoingMessage) -> DeliveryResult:
        ch = self._free.get()
        try:
            return ch.send(msg)
        finally:
            self._free.put(ch)

    def submit(self, msg: OutgoingMessage) -> Future[DeliveryResult]:
        if self._pool is not None:
            return self._pool.submit(self._send, msg)
        fut: Future[DeliveryResult] = Future()
        try:
            fut.set_result(self._send(msg))
        except BaseException as exc:  # noqa: BLE001 - handed back through the future like the threaded path
            fut.set_exception(exc)
        return fut

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        for ch in self._channels:
            ch.close()


class Worker:
    """Delivers due outbox messages. ``channel_factory`` lets tests and the service inject channels."""

    def __init__(
        self,
        store: Any,
        settings: Settings,
        *,
        channel_factory: Callable[[ChannelSpec, str], Channel] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.settings = settings
        #: the current key: a worker kept across a key rotation decrypts and signs with the new one
        self.keys = CipherSource(settings)
        self.clock = clock
        self._factory = channel_factory or (lambda spec, campaign: make_channel(spec, settings.workspace, campaign))
        self._senders: dict[tuple[str, str], _Sender] = {}
        self._specs: dict[str, CampaignSpec] = {}
        self._conn: Any = None
        self._pending: list[Any] = []
        #: (campaign, channel) → why its channel could not start this run (e.g. a password variable not set)
        self._unusable: dict[tuple[str, str], str] = {}

    @property
    def cipher(self) -> PIICipher:
        """The workspace's current cipher (addresses and names are decrypted with it)."""
        return self.keys.cipher()

    @property
    def signer(self) -> Signer:
        """The link signer of the workspace's current key."""
        return self.keys.signer()

    # --- helpers -----------------------------------------------------------------------------------
    @property
    def unusable(self) -> dict[tuple[str, str], str]:
        """(campaign, channel) → why that channel could not start in the last run (its messages wait)."""
        return dict(self._unusable)

    def _spec(self, name: str) -> CampaignSpec:
        if name not in self._specs:
            with self.store.session() as s:
                row = s.get(Campaign, name)
            if row is None:
                raise InputError(f"outbox names unknown campaign {name!r}")
            self._specs[name] = CampaignSpec.model_validate(row.spec)
        return self._specs[name]

    def _sender(self, campaign: str, channel_type: str) -> _Sender:
        key = (campaign, channel_type)
        if key not in self._senders:
            spec = next(c for c in self._spec(campaign).channels if c.type == channel_type)
            n = spec.connections if channel_type in ("email", "webhook") else 1  # file channels append in order
            self._senders[key] = _Sender([self._factory(spec, campaign) for _ in range(n)])
        return self._senders[key]

    def close(self) -> None:
        for sender in self._senders.values():
            sender.close()
        self._senders.clear()
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def recover(self, campaign: str | None = None) -> int:
        """Return messages a dead worker left ``sending`` to the queue (call while holding the lock)."""
        with self.store.session() as s:
            q = update(Message).where(Message.status == "sending")
            if campaign:
                q = q.where(Message.campaign == campaign)
            res = s.execute(q.values(status="retry", reason="resent_after_crash", next_attempt_at=None))
            return int(res.rowcount or 0)

    # --- the loop ----------------------------------------------------------------------------------
    def run(self, campaign: str | None = None, *, max_messages: int | None = None, batch: int = 500, progress: Any = None) -> DeliveryStats:
        """Deliver every due message (of one campaign, or all), under the workspace lock.

        Raises:
            KeyRotatedError: this process's ``PERSONA_SECRET_KEY`` was retired by a key rotation.
            KeyRotationPending: a key rotation was interrupted (``persona privacy rotate-key --resume``).
        """
        stats = DeliveryStats()
        self._unusable = {}
        with worker_lock(self.store, self.settings):  # a rotation holds it too: the key cannot change during a run
            self.keys.writable(self.store, force=True)
            stats.recovered = self.recover(campaign)
            broken: set[tuple[str, str]] = set()
            done = 0
            last_id = 0
            try:
                while max_messages is None or done < max_messages:
                    now = self.clock()
                    with self.store.session() as s:
                        q = (
                            select(Message)
                            .where(Message.status.in_(DUE), Message.id > last_id)
                            .where((Message.next_attempt_at.is_(None)) | (Message.next_attempt_at <= now))
                            .order_by(Message.id)
                            .limit(batch)
                        )
                        if campaign:
                            q = q.where(Message.campaign == campaign)
                        msgs = list(s.scalars(q))
                    if not msgs:
                        break
                    last_id = msgs[-1].id
                    try:
                        done += self._deliver_batch(msgs, stats, broken, now, max_messages=None if max_messages is None else max_messages - done)
                    finally:
                        if self._pending:
                            self._write()
                    if progress is not None:
                        progress(done)
            finally:
                self.close()
        for camp, ch in broken:
            why = self._unusable.get((camp, ch))
            stats.notes.append(f"{ch} channel of {camp} cannot start ({why}); its messages wait for the next run" if why
                               else f"{ch} channel of {camp} kept failing; remaining messages wait for the next run")
        return stats

    def _deliver_batch(self, msgs: list[Message], stats: DeliveryStats, broken: set[tuple[str, str]], now: datetime,
                       max_messages: int | None) -> int:
        cids = sorted({m.customer_id for m in msgs})
        with self.store.session() as s:
            custs = {c.customer_id: c for c in s.scalars(select(Customer).where(Customer.customer_id.in_(cids)))}
        b = _Batch(stats=stats, broken=broken, now=now, cids=cids, custs=custs)
        try:
            return self._loop(msgs, b, max_messages)
        finally:
            self._settle(b, 0)  # never leave a finished send unrecorded, even on an error

    def _loop(self, msgs: list[Message], b: _Batch, max_messages: int | None) -> int:
        handled = 0
        for m in msgs:
            if max_messages is not None and handled >= max_messages:
                break
            key = (m.campaign, m.channel)
            if key in b.broken:
                continue
            spec = self._spec(m.campaign)
            cust = b.custs.get(m.customer_id)
            to_addr = self.cipher.decrypt(cust.email_enc) if cust is not None and m.channel in ("email", "outbox", "export") else None
            reason = self._suppression(m, spec, cust, to_addr, b)
            if reason is not None:
                self._finish(m, "suppressed", reason, b.stats)
                handled += 1
                continue
            if spec.quiet_hours is not None:
                until = _quiet_until(b.now, cust.timezone, spec.quiet_hours.start, spec.quiet_hours.end)
                if until is not None:
                    self._pending.append((_DEFER, {"id": m.id, "next_attempt_at": until}))
                    b.stats.deferred += 1
                    continue
            # -- claim, render, hand to a connection; outcomes are recorded as they complete ------------
            try:
                sender = self._sender(m.campaign, m.channel)
            except PersonaError as exc:  # a misconfigured channel (a password variable not set): before any claim,
                b.broken.add(key)  # its messages wait for the next run; the other campaigns' go out
                self._unusable[key] = " ".join(exc.message.split()) + (f"; {exc.hint}" if exc.hint else "")
                continue
            self._settle(b, sender.size - 1)
            if key in b.broken or not self._claim(m.id):
                continue
            handled += 1
            if spec.frequency_cap is not None:  # counted at claim time, so two in-flight messages cannot both pass the cap
                counts = self._cap_counts(b, m.channel, spec.frequency_cap.per_days)
                counts[m.customer_id] = counts.get(m.customer_id, 0) + 1
            b.inflight.append((m, spec, sender.submit(self._render(m, spec, cust, to_addr))))
        return handled

    def _suppression(self, m: Message, spec: CampaignSpec, cust: Customer | None, to_addr: str | None, b: _Batch) -> str | None:
        """Why a message must not go out now (erased, no consent, no address, capped), or None."""
        if cust is None or cust.erased_at is not None:
            return "customer erased or unknown"
        channel, purpose = consent_channel(m.channel), spec.purpose
        if (channel, purpose) not in b.consent:
            b.consent[(channel, purpose)] = consent_state(self.store, channel, purpose, b.cids, at=b.now)
        if not b.consent[(channel, purpose)].get(m.customer_id, False):
            return f"no {channel} consent for {purpose} at send time"
        if m.channel in ("email", "outbox") and not to_addr:
            return "no e-mail address"
        cap = spec.frequency_cap
        if cap is not None and self._cap_counts(b, m.channel, cap.per_days).get(m.customer_id, 0) >= cap.max_messages:
            return f"frequency cap: {cap.max_messages} per {cap.per_days:g} days"
        return None

    def _cap_counts(self, b: _Batch, channel: str, per_days: float) -> dict[str, int]:
        """Messages sent (or in flight) per customer of the batch on ``channel`` in the cap's window."""
        key = (channel, per_days)
        if key not in b.sent_recent:
            b.sent_recent[key] = self._sent_counts(b.cids, channel, b.now - timedelta(days=per_days))
        return b.sent_recent[key]

    def _settle(self, b: _Batch, keep: int) -> None:
        """Record finished sends (oldest first) until at most ``keep`` remain in flight."""
        while b.inflight and (len(b.inflight) > keep or b.inflight[0][2].done()):
            m, spec, fut = b.inflight.popleft()
            try:
                result = fut.result()
            except PersonaError as exc:
                result = DeliveryResult("permanent", str(exc))
            self._record(m, spec, result, b)

    def _record(self, m: Message, spec: CampaignSpec, result: DeliveryResult, b: _Batch) -> None:
        key = (m.campaign, m.channel)
        if result.outcome == "sent":
            b.failures[key] = 0
            self._finish(m, "sent", "duplicate suppressed by channel" if result.duplicate else None, b.stats, sent_at=self.clock())
            return
        if spec.frequency_cap is not None:  # it did not go out: give back the place it took under the cap
            counts = self._cap_counts(b, m.channel, spec.frequency_cap.per_days)
            counts[m.customer_id] = max(0, counts.get(m.customer_id, 1) - 1)
        if result.outcome == "transient" and m.attempts + 1 < spec.max_attempts:
            b.failures[key] += 1
            delay = self.settings.backoff_seconds * (2 ** m.attempts)
            self._finish(m, "retry", result.reason, b.stats, next_attempt_at=self.clock() + timedelta(seconds=min(delay, 3600)))
            if b.failures[key] >= BREAKER:
                b.broken.add(key)
        else:
            self._finish(m, "failed", result.reason, b.stats)

    def _sent_counts(self, cids: list[str], channel: str, since: datetime) -> dict[str, int]:
        with self.store.session() as s:
            rows = s.execute(
                select(Message.customer_id, func.count())
                .where(Message.customer_id.in_(cids), Message.channel == channel, Message.status == "sent", Message.sent_at >= since)
                .group_by(Message.customer_id)
            )
            return {cid: int(n) for cid, n in rows}

    def _write(self, *stmts: Any) -> list[int]:
        """Execute statements (after any pending ones) in one committed transaction on the worker's connection."""
        if self._conn is None:
            self._conn = self.store.engine.connect()
        todo, self._pending = [*self._pending, *stmts], []
        try:
            counts = [int(self._conn.execute(st, params).rowcount or 0) for st, params in todo]
            self._conn.commit()
        except BaseException:
            self._conn.rollback()
            raise
        return counts[len(todo) - len(stmts):]

    def _claim(self, mid: int) -> bool:
        """Mark a due message ``sending``, committed (with the pending outcomes) before the send."""
        return self._write((_CLAIM, {"id": mid}))[0] == 1

    def _finish(self, m: Message, status: str, reason: str | None, stats: DeliveryStats, **values: Any) -> None:
        """Record an outcome. It is committed with the next claim (one commit per message) or at the batch end;
        a send's outcome is never left behind a slow step: only in-memory checks run before that commit."""
        self._pending.append((_FINISH, {"id": m.id, "status": status, "reason": reason, "sent_at": values.get("sent_at"),
                                        "next_attempt_at": values.get("next_attempt_at")}))
        setattr(stats, status, getattr(stats, status) + 1)
        if reason:
            stats.reasons[f"{status}: {reason}"] += 1

    def _render(self, m: Message, spec: CampaignSpec, cust: Customer, to_addr: str | None) -> OutgoingMessage:
        payload = m.payload or {}
        name = self.cipher.decrypt(cust.name_enc) if cust.name_enc is not None else None
        lang = spec.language if spec.language != "auto" else (cust.language if cust.language in ("en", "zh") else "en")
        base = spec.base_url
        items = [
            {**it, "url": click_url(base, self.signer, m.message_id, it["url"])} for it in payload.get("items", [])
        ]
        unsub = unsubscribe_url(base, self.signer, m.message_id)
        ctx = {
            "customer": {
                "customer_id": m.customer_id,
                "first_name": name.split()[0] if name else "",
                "name": name or "",
                "language": lang,
            },
            "strategy": m.strategy,
            "offer": payload.get("offer", {}),
            "items": items,
            "campaign": spec.name,
            "unsubscribe_url": unsub,
            "open_pixel_url": open_url(base, m.message_id),
            "shop_name": spec.description or "Persona Shop",
            "currency": "$",
            "lang": lang,
        }
        r = render(payload.get("template"), lang, ctx)
        return OutgoingMessage(
            message_id=m.message_id,
            campaign=m.campaign,
            customer_id=m.customer_id,
            to_address=to_addr,
            subject=r.subject,
            html=r.html,
            text=r.text,
            unsubscribe_url=unsub,
            payload={"strategy": m.strategy, "offer": payload.get("offer", {}), "items": payload.get("items", []), "variant": m.variant},
        )
