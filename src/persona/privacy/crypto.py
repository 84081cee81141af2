"""PII encryption (AES-256-GCM) and keyed pseudonyms (HMAC-SHA256) from one workspace secret.

One 32-byte master key (``PERSONA_SECRET_KEY`` or the workspace key file) is split with HKDF into
independent keys for encryption, customer pseudonyms and e-mail hashes, so a leaked pseudonym
table says nothing about the encryption key. Ciphertexts carry a version prefix so the scheme
can change without breaking stored rows.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from persona.config import Settings
from persona.errors import ConfigError, InputError, WorkspaceNotFoundError

VERSION_PREFIX = b"P1"  # scheme 1: AES-256-GCM, 12-byte random nonce, 16-byte tag
NONCE_BYTES = 12
KEY_BYTES = 32
#: beside the key file while a rotation runs (``persona privacy rotate-key``): the key the data is being moved to
NEXT_KEY_SUFFIX = ".next"


def generate_key() -> str:
    """A new random master key, base64 text (what the key file and ``PERSONA_SECRET_KEY`` hold)."""
    return base64.urlsafe_b64encode(os.urandom(KEY_BYTES)).decode("ascii")


def create_key_file(path: Path) -> bool:
    """Create the key file with mode 0600 if it does not exist; never overwrite one.

    Returns:
        True when a new key was written, False when the file already existed.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(generate_key() + "\n")
    os.chmod(path, 0o600)
    return True


def load_key_file(path: Path) -> bytes:
    """The 32-byte master key held in a key file (base64 text).

    Raises:
        ConfigError: the file does not hold 32 bytes of base64.
    """
    return _decode_key(path.read_text(encoding="ascii", errors="replace"), str(path))


def _decode_key(text: str, source: str) -> bytes:
    raw = text.strip()
    try:
        key = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != KEY_BYTES:
        try:
            key = base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True)
        except (binascii.Error, ValueError):
            key = b""
    if len(key) != KEY_BYTES:
        raise ConfigError(
            f"the secret key from {source} is not {KEY_BYTES} bytes of base64",
            hint='generate one with: python -c "from persona.privacy.crypto import generate_key; print(generate_key())"',
        )
    return key


class PIICipher:
    """Encrypts PII, and derives stable keyed pseudonyms and e-mail hashes.

    Args:
        master_key: 32 random bytes.
    """

    def __init__(self, master_key: bytes) -> None:
        if len(master_key) != KEY_BYTES:
            raise ConfigError(f"master key must be {KEY_BYTES} bytes, got {len(master_key)}")
        #: names the key without revealing it (audit records of a rotation, the privacy report)
        self.fingerprint: str = self._derive(master_key, b"persona/key-fingerprint/v1").hex()[:16]
        self._aead = AESGCM(self._derive(master_key, b"persona/pii-encryption/v1"))
        self._pseudo_key = self._derive(master_key, b"persona/customer-pseudonym/v1")
        self._email_key = self._derive(master_key, b"persona/email-hash/v1")
        rk = self._derive(master_key, b"persona/row-hash/v1").hex()
        self.row_hash_keys: tuple[str, str] = (rk[:16], rk[16:32])  # SipHash keys for source-row hashes

    @staticmethod
    def _derive(master: bytes, info: bytes) -> bytes:
        return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=info).derive(master)

    @classmethod
    def from_settings(cls, settings: Settings) -> PIICipher:
        """The cipher of a workspace: ``PERSONA_SECRET_KEY`` / ``settings.secret_key``, else the key file.

        Raises:
            WorkspaceNotFoundError: no key is configured and the key file does not exist.
            ConfigError: the key is malformed, or a key rotation was interrupted (``secret.key.next`` exists: the
                data may be under either key until ``persona privacy rotate-key --resume`` settles it).
        """
        if settings.secret_key:
            return cls(_decode_key(settings.secret_key, "PERSONA_SECRET_KEY"))
        path = settings.key_path
        pending = path.with_name(path.name + NEXT_KEY_SUFFIX)
        if pending.exists():
            raise ConfigError(
                f"a key rotation of this workspace did not finish ({pending} exists)",
                hint=f"run `persona privacy rotate-key --resume --workspace {settings.workspace}`",
            )
        if not path.is_file():
            raise WorkspaceNotFoundError(
                f"no secret key: {path} does not exist and PERSONA_SECRET_KEY is not set",
                hint=f"run `persona init --workspace {settings.workspace}` (or `persona run`, which initializes)",
            )
        return cls(load_key_file(path))

    # --- encryption --------------------------------------------------------------------------
    def encrypt(self, value: str | None) -> bytes | None:
        """Encrypt a string (None stays None); every call uses a fresh random nonce."""
        if value is None:
            return None
        nonce = os.urandom(NONCE_BYTES)
        return VERSION_PREFIX + nonce + self._aead.encrypt(nonce, value.encode("utf-8"), VERSION_PREFIX)

    def decrypt(self, token: bytes | None) -> str | None:
        """Decrypt what :meth:`encrypt` produced (None stays None).

        Raises:
            InputError: the ciphertext is not Persona's, was tampered with, or another key made it.
        """
        if token is None:
            return None
        token = bytes(token)
        if not token.startswith(VERSION_PREFIX) or len(token) < len(VERSION_PREFIX) + NONCE_BYTES + 16:
            raise InputError("not a Persona ciphertext (unknown version prefix)", hint="was the column written by another tool?")
        nonce = token[len(VERSION_PREFIX) : len(VERSION_PREFIX) + NONCE_BYTES]
        try:
            return self._aead.decrypt(nonce, token[len(VERSION_PREFIX) + NONCE_BYTES :], VERSION_PREFIX).decode("utf-8")
        except InvalidTag as exc:
            raise InputError(
                "cannot decrypt: the data was tampered with or encrypted with another key",
                hint="check PERSONA_SECRET_KEY / the workspace key file",
            ) from exc

    # --- keyed hashes ------------------------------------------------------------------------
    def pseudonym(self, customer_id: str) -> str:
        """Stable pseudonymous key of a customer: keyed HMAC-SHA256, 32 hex characters."""
        return hmac.new(self._pseudo_key, str(customer_id).encode("utf-8"), hashlib.sha256).hexdigest()[:32]

    def pseudonyms(self, customer_ids: list[str]) -> list[str]:
        """:meth:`pseudonym` of many ids (the one-shot C HMAC: several times faster in bulk)."""
        key, digest = self._pseudo_key, hmac.digest
        return [digest(key, str(cid).encode("utf-8"), "sha256").hex()[:32] for cid in customer_ids]

    def email_hash(self, email: str | None) -> str | None:
        """Keyed HMAC-SHA256 (64 hex) of the normalized (trimmed, lower-case) address; for suppression lists."""
        if email is None:
            return None
        norm = email.strip().lower()
        if not norm:
            return None
        return hmac.new(self._email_key, norm.encode("utf-8"), hashlib.sha256).hexdigest()
