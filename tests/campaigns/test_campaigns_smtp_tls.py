"""SMTP with STARTTLS and AUTH against a real aiosmtpd server using a certificate made for the test; rate limit."""

from __future__ import annotations

import datetime as dt
import ssl
import time
from pathlib import Path

import pytest
from shop_fixtures import Inbox, free_port, seed_shop

from persona.campaigns.planner import plan_campaign
from persona.campaigns.spec import parse_spec
from persona.campaigns.status import campaign_status
from persona.campaigns.worker import Worker


def _certificate(folder: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key()).serial_number(1)
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return cert_path, key_path


@pytest.fixture
def tls_server(tmp_path: Path):  # noqa: ANN201
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    cert, key = _certificate(tmp_path)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)

    def authenticator(server, session, envelope, mechanism, auth_data):  # noqa: ANN001, ANN202
        ok = isinstance(auth_data, LoginPassword) and auth_data.login == b"shop" and auth_data.password == b"s3cret"
        return AuthResult(success=ok)

    inbox = Inbox()
    port = free_port()
    ctl = Controller(inbox, hostname="localhost", port=port, tls_context=ctx, require_starttls=True, authenticator=authenticator,
                     auth_required=True, auth_require_tls=True)
    ctl.start()
    yield inbox, port, cert
    ctl.stop()


def _spec(port: int, cert: Path, extra: str = "") -> str:
    return (
        "name: tls\ngroups:\n  - {name: all, strategy: coupon}\n"
        f"channels: [{{type: email, host: localhost, port: {port}, security: starttls, username: shop, password_env: SMTP_PW, "
        f"ca_file: '{cert}'{extra}}}]\nfrequency_cap: null\n"
    )


def test_starttls_and_login(shop, tls_server, monkeypatch) -> None:  # noqa: ANN001
    store, settings = shop
    inbox, port, cert = tls_server
    monkeypatch.setenv("SMTP_PW", "s3cret")
    seed_shop(store, settings, 5)
    plan_campaign(store, settings, parse_spec(_spec(port, cert)))
    stats = Worker(store, settings).run("tls")
    assert stats.sent == 5 and len(inbox) == 5


def test_wrong_password_loses_nothing(shop, tls_server, monkeypatch) -> None:  # noqa: ANN001
    store, settings = shop
    inbox, port, cert = tls_server
    monkeypatch.setenv("SMTP_PW", "wrong")
    seed_shop(store, settings, 3)
    plan_campaign(store, settings, parse_spec(_spec(port, cert, ", timeout: 2, connections: 1")))
    stats = Worker(store, settings).run("tls")
    assert stats.sent == 0 and stats.failed == 0 and len(inbox) == 0
    assert all(r.startswith("retry: SMTP") for r in stats.reasons), dict(stats.reasons)  # retried later, never given up
    assert campaign_status(store, "tls")["pending"] == 3


def test_untrusted_certificate_is_refused(shop, tls_server, monkeypatch, tmp_path) -> None:  # noqa: ANN001
    store, settings = shop
    inbox, port, _ = tls_server
    other, _ = _certificate(tmp_path / "other" if (tmp_path / "other").mkdir() is None else tmp_path)
    monkeypatch.setenv("SMTP_PW", "s3cret")
    seed_shop(store, settings, 2)
    plan_campaign(store, settings, parse_spec(_spec(port, other)))
    stats = Worker(store, settings).run("tls")
    assert stats.sent == 0 and len(inbox) == 0 and any("TLS" in r for r in stats.reasons)


def test_rate_limit_spaces_the_sends(shop, smtp_server) -> None:  # noqa: ANN001
    store, settings = shop
    inbox, port = smtp_server
    seed_shop(store, settings, 12)
    plan_campaign(store, settings, parse_spec(
        "name: slow\ngroups:\n  - {name: all, strategy: coupon}\n"
        f"channels: [{{type: email, host: 127.0.0.1, port: {port}, rate_per_second: 40, connections: 1}}]\nfrequency_cap: null\n"))
    t0 = time.perf_counter()
    assert Worker(store, settings).run("slow").sent == 12
    assert time.perf_counter() - t0 >= 11 / 40 and len(inbox) == 12
