"""E-mail over SMTP: STARTTLS or SSL, authentication, multipart HTML + text, List-Unsubscribe, rate limit."""

from __future__ import annotations

import io
import logging
import os
import smtplib
import ssl
import time
from email import policy as email_policy
from email.generator import BytesGenerator
from email.header import Header
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formatdate, parseaddr

from persona.campaigns.channels.base import DeliveryResult, OutgoingMessage
from persona.campaigns.spec import ChannelSpec
from persona.errors import ConfigError

log = logging.getLogger(__name__)


def build_email(msg: OutgoingMessage, from_address: str) -> MIMEMultipart:
    """The MIME message: text and HTML alternatives, a Message-ID derived from the outbox id.

    Built with the ``compat32`` MIME classes: several times faster than ``EmailMessage`` header parsing,
    which matters at hundreds of messages per second; long tracking URLs are never folded into encoded words.
    """
    em = MIMEMultipart("alternative")
    em["From"] = from_address
    em["To"] = msg.to_address or ""
    em["Subject"] = msg.subject if msg.subject.isascii() else Header(msg.subject, "utf-8")
    em["Date"] = formatdate(localtime=False, usegmt=True)
    domain = from_address.rsplit("@", 1)[-1].strip("> ") or "persona.local"
    em["Message-ID"] = f"<{msg.message_id}@{domain}>"  # the idempotency key a mailbox de-duplicates on
    em["List-Unsubscribe"] = f"<{msg.unsubscribe_url}>"
    em["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    em["X-Persona-Campaign"] = msg.campaign
    em.attach(MIMEText(msg.text, "plain", "utf-8"))
    em.attach(MIMEText(msg.html, "html", "utf-8"))
    return em


def to_bytes(em: MIMEMultipart) -> bytes:
    """Serialise for SMTP (CRLF line ends, no header folding of long URLs)."""
    buf = io.BytesIO()
    BytesGenerator(buf, mangle_from_=False, maxheaderlen=0, policy=_POLICY).flatten(em)
    return buf.getvalue()


_POLICY = email_policy.compat32.clone(linesep="\r\n", max_line_length=0)


class EmailChannel:
    """Sends through one SMTP connection, reconnecting when the server drops it."""

    name = "email"

    def __init__(self, spec: ChannelSpec) -> None:
        self.spec = spec
        self._smtp: smtplib.SMTP | None = None
        self._last = 0.0
        self._password = None
        self._from_addr = parseaddr(spec.from_address)[1] or spec.from_address
        if spec.password_env:
            self._password = os.environ.get(spec.password_env)
            if self._password is None:
                raise ConfigError(
                    f"SMTP password variable {spec.password_env} is not set",
                    hint=f"export {spec.password_env}=… before sending",
                )

    def _connect(self) -> smtplib.SMTP:
        s = self.spec
        if s.security == "ssl":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout, context=ssl.create_default_context())
        else:
            smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
            if s.security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
        if s.username:
            smtp.login(s.username, self._password or "")
        return smtp

    def _throttle(self) -> None:
        if self.spec.rate_per_second > 0:
            wait = self._last + 1.0 / self.spec.rate_per_second - time.monotonic()
            if wait > 0:
                time.sleep(wait)
        self._last = time.monotonic()

    def send(self, message: OutgoingMessage) -> DeliveryResult:
        if not message.to_address:
            return DeliveryResult("permanent", "customer has no e-mail address")
        self._throttle()
        em = build_email(message, self.spec.from_address)
        for attempt in (1, 2):  # a dropped idle connection is retried once on a fresh one
            try:
                if self._smtp is None:
                    self._smtp = self._connect()
                refused = self._smtp.sendmail(self._from_addr, [message.to_address], to_bytes(em))
                if refused:
                    code, text = next(iter(refused.values()))
                    return DeliveryResult("permanent", f"recipient refused: {code} {text.decode(errors='replace')}")
                return DeliveryResult("sent")
            except smtplib.SMTPRecipientsRefused as exc:
                code, text = next(iter(exc.recipients.values()))
                outcome = "transient" if 400 <= code < 500 else "permanent"
                return DeliveryResult(outcome, f"recipient refused: {code} {text.decode(errors='replace')}")
            except smtplib.SMTPResponseException as exc:
                self._reset()
                outcome = "transient" if 400 <= exc.smtp_code < 500 else "permanent"
                return DeliveryResult(outcome, f"SMTP {exc.smtp_code}: {exc.smtp_error.decode(errors='replace')}")
            except (TimeoutError, smtplib.SMTPServerDisconnected, ConnectionError, OSError) as exc:
                self._reset()
                if attempt == 2:
                    return DeliveryResult("transient", f"SMTP server {self.spec.host}:{self.spec.port} unreachable: {exc}")
        return DeliveryResult("transient", "SMTP send failed")

    def _reset(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.close()
            except Exception:  # noqa: BLE001 - closing a broken connection
                pass
        self._smtp = None

    def close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except Exception:  # noqa: BLE001
                pass
        self._smtp = None
