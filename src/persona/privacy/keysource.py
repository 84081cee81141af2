"""The workspace's current key for long-running processes: follow a key rotation, or stop writing when it cannot.

``persona privacy rotate-key`` moves the data to a new key and renames ``secret.key.next`` over ``secret.key``; a
service, worker or loop that kept the old :class:`~persona.privacy.crypto.PIICipher` would go on writing pseudonyms
under the retired key. A :class:`CipherSource` holds the cipher instead and follows the key:

* key file: at most once every :data:`FILE_CHECK_SECONDS` (monotonic clock; nothing per call in between) it compares
  the key file's identity (inode, mtime_ns, size) and looks for ``secret.key.next``; a changed file is loaded. While
  ``secret.key.next`` exists the data may be under either key: the old cipher is kept for reads and verifying links,
  and :meth:`CipherSource.writable` refuses (:class:`KeyRotationPending`, 503) until the rotation is settled.
* ``PERSONA_SECRET_KEY``: the environment cannot change under a running process. At most once every
  :data:`ROTATION_CHECK_SECONDS` :meth:`CipherSource.writable` reads the latest ``rotate_key`` audit record; once it
  names another key, every write is refused (:class:`KeyRotatedError`, 503) until the process is restarted.

:func:`ensure_current_key` is the same audit check for one-off runs (an ingest, a delivery pass).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from persona.errors import PersonaError
from persona.privacy.crypto import PIICipher
from persona.privacy.keyfiles import next_key_path

log = logging.getLogger(__name__)

FILE_CHECK_SECONDS = 1.0  # a rotated key file is picked up within about this long
ROTATION_CHECK_SECONDS = 5.0  # with PERSONA_SECRET_KEY: how often the audit log is asked whether the key was rotated
ROTATED_MESSAGE = "the workspace key was rotated; restart this service with the new PERSONA_SECRET_KEY"
PENDING_MESSAGE = "a key rotation of this workspace is in progress; writes resume when it is done"


class KeyRotatedError(PersonaError):
    """The workspace key was rotated and this process (keyed by ``PERSONA_SECRET_KEY``) still holds the old one."""

    code = "key_rotated"
    exit_code = 2
    http_status = 503


class KeyRotationPending(PersonaError):
    """A key rotation is running (or was interrupted): key-derived values cannot be written now."""

    code = "key_rotation_pending"
    exit_code = 2
    http_status = 503


def rotated_away(store: Any, fingerprint: str) -> bool:
    """Whether the latest ``rotate_key`` audit record moved the data to a key other than ``fingerprint``."""
    from persona.privacy.rotate import last_rotation

    last = last_rotation(store)
    return last is not None and last["new_fingerprint"] not in (None, fingerprint)


def ensure_current_key(store: Any, cipher: PIICipher) -> None:
    """Refuse to write with a ``PERSONA_SECRET_KEY`` that a rotation retired (a key file is always current).

    Raises:
        KeyRotatedError: the environment's key is not the one the data is under.
    """
    if store.settings.secret_key and rotated_away(store, cipher.fingerprint):
        raise KeyRotatedError(ROTATED_MESSAGE, hint="`persona privacy rotate-key` wrote the new key to --new-key-file")


class CipherSource:
    """The workspace's current :class:`PIICipher` (and link :class:`~persona.campaigns.tracking.Signer`), cached.

    Args:
        settings: the workspace settings.
        check_seconds: how often the key file is looked at, at most.
        rotation_check_seconds: with ``PERSONA_SECRET_KEY``, how often the audit log is asked, at most.
        clock: a monotonic clock (tests move it).
    """

    def __init__(self, settings: Any, *, check_seconds: float = FILE_CHECK_SECONDS,
                 rotation_check_seconds: float = ROTATION_CHECK_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.check_seconds, self.rotation_check_seconds, self.clock = check_seconds, rotation_check_seconds, clock
        self.env = bool(settings.secret_key)
        #: bumped whenever another key is loaded
        self.generation = 0
        #: a rotation was seen in progress (``secret.key.next`` exists) at the last look
        self.pending = False
        #: set once the audit log names a newer key than this process's ``PERSONA_SECRET_KEY``
        self.rotated = False
        #: the clock when the key file was last seen unchanged with no rotation pending: anything written with the
        #: current cipher before then was written before any later rotation began (so that rotation rewrote it)
        self.confirmed_at = clock()
        self._lock = threading.Lock()
        self._cipher: PIICipher | None = None
        self._signer: Any = None
        self._identity: tuple[int, int, int] | None = None
        self._checked = self._asked = float("-inf")
        if self.env:
            self._cipher = PIICipher.from_settings(settings)
        else:
            self._look(clock())

    # --- the key -----------------------------------------------------------------------------------
    def cipher(self, *, fresh: bool = False) -> PIICipher:
        """The current cipher (the key file is looked at when the last look is older than ``check_seconds``).

        Args:
            fresh: look at the key file now, whatever the interval.

        Raises:
            KeyRotationPending: the process started while a rotation was pending and has no key yet.
        """
        now = self.clock()
        if (fresh or now - self._checked >= self.check_seconds) and not self.env:
            with self._lock:
                if fresh or now - self._checked >= self.check_seconds:
                    self._look(now)
        if self._cipher is None:
            raise KeyRotationPending(PENDING_MESSAGE, hint="retry in a few seconds; `persona privacy rotate-key --resume` "
                                                           "settles an interrupted rotation")
        return self._cipher

    def signer(self) -> Any:
        """The link signer of the current key (links signed with keys retired in the grace period still verify)."""
        cipher = self.cipher()
        signer = self._signer
        if signer is None or signer[0] is not cipher:
            from persona.campaigns.tracking import Signer

            signer = self._signer = (cipher, Signer.for_cipher(cipher, self.settings))
        return signer[1]

    def writable(self, store: Any = None, *, force: bool = False) -> PIICipher:
        """The cipher to write key-derived values with, or an error saying why none may be written now.

        Args:
            store: with ``PERSONA_SECRET_KEY``, the store whose audit log tells of a rotation (None: not asked).
            force: look at the key file / ask the audit log now, whatever the interval (one-off runs such as a
                delivery pass).

        Raises:
            KeyRotationPending: a rotation is in progress.
            KeyRotatedError: this process's ``PERSONA_SECRET_KEY`` was retired by a rotation.
        """
        cipher = self.cipher(fresh=force)
        if self.pending:
            raise KeyRotationPending(PENDING_MESSAGE, hint="retry in a few seconds")
        if self.env and store is not None:
            self.check_rotation(store, force=force)
        if self.rotated:
            raise KeyRotatedError(ROTATED_MESSAGE, hint="`persona privacy rotate-key` wrote the new key to --new-key-file")
        return cipher

    def check_rotation(self, store: Any, *, force: bool = False) -> bool:
        """With ``PERSONA_SECRET_KEY``: whether a rotation retired this key (the audit log, asked at most every
        ``rotation_check_seconds`` unless ``force``). Always False with a key file, which is followed instead."""
        if not self.env or self.rotated:
            return self.rotated
        now = self.clock()
        if force or now - self._asked >= self.rotation_check_seconds:
            self._asked = now
            assert self._cipher is not None
            if rotated_away(store, self._cipher.fingerprint):
                self.rotated = True
                log.warning("key_rotated fingerprint=%s: writes refused until restart", self._cipher.fingerprint)
        return self.rotated

    def problem(self) -> str | None:
        """Why key-derived values cannot be written now (for ``/readyz``), or None."""
        if self.rotated:
            return ROTATED_MESSAGE
        try:
            self.cipher()
        except KeyRotationPending:
            return PENDING_MESSAGE
        return PENDING_MESSAGE if self.pending else None

    # --- the key file ------------------------------------------------------------------------------
    def _look(self, now: float) -> None:
        """Compare the key file with the one loaded; load it when it changed and no rotation is pending."""
        self._checked = now
        path = self.settings.key_path
        self.pending = next_key_path(path).exists()
        try:
            st = os.stat(path)
            identity = (st.st_ino, st.st_mtime_ns, st.st_size)
        except OSError:
            identity = None
        if self.pending:  # the data may be under either key until the rotation is settled: keep the one held
            return
        if identity != self._identity or self._cipher is None:
            try:
                cipher = PIICipher.from_settings(self.settings)
            except PersonaError as exc:  # e.g. the file was removed: keep the key held, say so once per look
                log.warning("key file not reloaded: %s", exc.message)
                if self._cipher is None:
                    raise
                return
            if self._cipher is not None and cipher.fingerprint != self._cipher.fingerprint:
                self.generation += 1
                log.info("key reloaded fingerprint=%s", cipher.fingerprint)
            self._cipher, self._identity = cipher, identity
        self.confirmed_at = now
