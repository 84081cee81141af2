"""PII encryption, pseudonyms and e-mail hashes."""

from __future__ import annotations

import pytest

from persona.config import load_settings
from persona.errors import ConfigError, InputError, WorkspaceNotFoundError
from persona.privacy import PIICipher, hashed_id
from persona.privacy.crypto import create_key_file, generate_key


def test_roundtrip_and_random_nonce():
    c = PIICipher(b"k" * 32)
    a, b = c.encrypt("ann@example.com"), c.encrypt("ann@example.com")
    assert a != b and a.startswith(b"P1") and b"ann" not in a
    assert c.decrypt(a) == "ann@example.com" and c.decrypt(None) is None and c.encrypt(None) is None
    assert c.decrypt(c.encrypt("张伟")) == "张伟"


def test_tamper_and_wrong_key_rejected():
    c = PIICipher(b"k" * 32)
    tok = bytearray(c.encrypt("x@y.z"))
    tok[-1] ^= 1
    with pytest.raises(InputError, match="tampered"):
        c.decrypt(bytes(tok))
    with pytest.raises(InputError):
        PIICipher(b"j" * 32).decrypt(c.encrypt("x@y.z"))
    with pytest.raises(InputError, match="prefix"):
        c.decrypt(b"plain")


def test_pseudonyms_stable_keyed():
    c1, c2 = PIICipher(b"a" * 32), PIICipher(b"b" * 32)
    p = c1.pseudonym("cust-1")
    assert len(p) == 32 and p == c1.pseudonym("cust-1") and p != c2.pseudonym("cust-1")
    assert c1.pseudonyms(["cust-1", "cust-2"]) == [p, c1.pseudonym("cust-2")]
    assert c1.email_hash(" Ann@Example.COM ") == c1.email_hash("ann@example.com") != c2.email_hash("ann@example.com")
    assert c1.email_hash("") is None
    assert hashed_id("cust-1", c1) != hashed_id("cust-1") and "cust" not in hashed_id("cust-1")


def test_from_settings_env_and_file(tmp_path, monkeypatch):
    monkeypatch.delenv("PERSONA_SECRET_KEY", raising=False)
    s = load_settings(tmp_path / "ws")
    with pytest.raises(WorkspaceNotFoundError, match="persona init"):
        PIICipher.from_settings(s)
    assert create_key_file(s.key_path) is True and create_key_file(s.key_path) is False
    tok = PIICipher.from_settings(s).encrypt("a")
    assert PIICipher.from_settings(load_settings(tmp_path / "ws")).decrypt(tok) == "a"
    key = generate_key()
    monkeypatch.setenv("PERSONA_SECRET_KEY", key)
    env_cipher = PIICipher.from_settings(load_settings(tmp_path / "ws"))
    assert env_cipher.pseudonym("x") == PIICipher.from_settings(load_settings(tmp_path / "other", secret_key=key)).pseudonym("x")
    with pytest.raises(ConfigError, match="32 bytes"):
        PIICipher.from_settings(load_settings(tmp_path / "ws", secret_key="short"))
