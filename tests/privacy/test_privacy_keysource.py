"""``CipherSource``: a long-running process follows the workspace key file, looking at it at most once per interval."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from persona.config import load_settings
from persona.errors import InputError
from persona.privacy.crypto import PIICipher, generate_key, load_key_file
from persona.privacy.keyfiles import next_key_path, promote_next_key, write_key_file
from persona.privacy.keysource import CipherSource, KeyRotatedError, KeyRotationPending, ensure_current_key


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    from persona.privacy.crypto import create_key_file

    monkeypatch.delenv("PERSONA_SECRET_KEY", raising=False)
    s = load_settings(tmp_path / "ws", progress=False)
    create_key_file(s.key_path)
    return s


def _swap(settings) -> PIICipher:  # noqa: ANN001
    """What a rotation does to the key files: the new key beside the old, then renamed over it."""
    write_key_file(next_key_path(settings.key_path), generate_key())
    promote_next_key(settings.key_path)
    return PIICipher(load_key_file(settings.key_path))


def test_the_key_file_is_looked_at_once_per_interval_and_followed(settings, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    clock = Clock()
    keys = CipherSource(settings, clock=clock)
    old = keys.cipher()
    stats = []
    real_stat = os.stat
    monkeypatch.setattr(os, "stat", lambda p, *a, **k: (stats.append(p), real_stat(p, *a, **k))[1])
    for _ in range(1000):
        assert keys.cipher() is old
    assert stats == []  # no system call between looks
    new = _swap(settings)
    stats.clear()
    clock.t += 0.5
    assert keys.cipher() is old and keys.generation == 0 and stats == []
    clock.t += 0.5
    assert keys.cipher().fingerprint == new.fingerprint and keys.generation == 1 and stats
    stats.clear()
    assert keys.cipher() is keys.cipher() and stats == []
    assert keys.cipher(fresh=True) is keys.cipher() and stats  # fresh: looks now


def test_while_a_rotation_is_pending_the_old_key_is_kept_and_writes_wait(settings) -> None:  # noqa: ANN001
    clock = Clock()
    keys = CipherSource(settings, clock=clock)
    old = keys.cipher()
    pending = next_key_path(settings.key_path)
    write_key_file(pending, generate_key())
    clock.t += 1
    assert keys.cipher() is old  # reads and link checks go on with the key the data may still be under
    with pytest.raises(KeyRotationPending) as exc:
        keys.writable()
    assert exc.value.http_status == 503 and "in progress" in keys.problem()
    confirmed = keys.confirmed_at
    promote_next_key(settings.key_path)
    clock.t += 1
    assert keys.writable().fingerprint != old.fingerprint and keys.problem() is None and keys.confirmed_at > confirmed


def test_a_process_started_during_a_rotation_waits_for_the_key(settings) -> None:  # noqa: ANN001
    write_key_file(next_key_path(settings.key_path), generate_key())
    clock = Clock()
    keys = CipherSource(settings, clock=clock)  # no crash at start-up
    with pytest.raises(KeyRotationPending):
        keys.cipher()
    promote_next_key(settings.key_path)
    clock.t += 1
    assert keys.cipher().fingerprint == PIICipher(load_key_file(settings.key_path)).fingerprint


def test_a_damaged_key_file_does_not_replace_the_key_held(settings) -> None:  # noqa: ANN001
    clock = Clock()
    keys = CipherSource(settings, clock=clock)
    old = keys.cipher()
    settings.key_path.write_text("not a key\n")
    clock.t += 1
    assert keys.cipher() is old


def test_an_environment_key_retired_by_a_rotation_stops_writes_and_ingestion(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from persona.ingest import ingest_file
    from persona.privacy.rotate import rotate_key
    from persona.store import open_store
    from persona.store.workspace import init_workspace

    for var in ("PERSONA_WORKSPACE", "PERSONA_DATABASE_URL", "PERSONA_SECRET_KEY"):
        monkeypatch.delenv(var, raising=False)
    settings = load_settings(tmp_path / "ws", progress=False, secret_key=generate_key())
    init_workspace(settings)
    store = open_store(settings)
    try:
        clock = Clock()
        keys = CipherSource(settings, clock=clock)
        assert keys.writable(store) is keys.cipher()
        rotate_key(store, settings, new_key_file=tmp_path / "new.key")
        assert keys.writable(store) is keys.cipher()  # asked less than ROTATION_CHECK_SECONDS ago: not asked again
        clock.t += keys.rotation_check_seconds
        with pytest.raises(KeyRotatedError) as exc:
            keys.writable(store)
        assert exc.value.message == "the workspace key was rotated; restart this service with the new PERSONA_SECRET_KEY"
        assert keys.problem() == exc.value.message and keys.cipher() is not None  # reads go on
        with pytest.raises(KeyRotatedError):
            ensure_current_key(store, PIICipher.from_settings(settings))
        (tmp_path / "c.csv").write_text("customer_id,email\nz1,z@example.org\n")
        with pytest.raises(KeyRotatedError):  # a `persona sync --every` loop writes nothing under the old key
            ingest_file(store, "customers", tmp_path / "c.csv")
        moved = load_settings(settings.workspace, progress=False, secret_key=(tmp_path / "new.key").read_text().strip())
        ensure_current_key(store, PIICipher.from_settings(moved))  # restarted with the new key: fine
    finally:
        store.dispose()


def test_an_old_ciphertext_does_not_open_with_the_followed_key(settings) -> None:  # noqa: ANN001
    clock = Clock()
    keys = CipherSource(settings, clock=clock)
    token = keys.cipher().encrypt("a@b.c")
    _swap(settings)
    clock.t += 1
    with pytest.raises(InputError):
        keys.cipher().decrypt(token)
