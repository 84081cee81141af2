"""The workspace's key files around a key rotation: the pending key, the retired keys kept, durable writes.

``secret.key`` holds the key in use, ``secret.key.next`` the key a rotation is moving the data to (it exists only
while one runs or after one was interrupted), and ``secret.key.old-<UTC time>`` each key retired by a rotation:
kept so that backups taken before it stay readable and links signed before it keep working for a while. Every
file is written mode 0600 and fsynced (file and folder) before anything relies on it.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from persona.errors import ConfigError
from persona.privacy.crypto import NEXT_KEY_SUFFIX, load_key_file

OLD_KEY_INFIX = ".old-"
_STAMP = "%Y%m%dT%H%M%SZ"


def next_key_path(key_path: Path) -> Path:
    """Where a rotation keeps the new key until the data is under it: ``secret.key.next``."""
    return key_path.with_name(key_path.name + NEXT_KEY_SUFFIX)


def fsync_dir(folder: Path) -> None:
    """Make a rename or a new file in ``folder`` durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_key_file(path: Path, key_text: str) -> None:
    """Write a key (base64 text) to a new file, mode 0600, fsynced; never overwrite one.

    Raises:
        FileExistsError: ``path`` exists.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, (key_text.strip() + "\n").encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(path, 0o600)
    fsync_dir(path.parent)


def keep_old_key(key_path: Path, key_text: str, now: datetime | None = None) -> Path:
    """Keep a retired key as ``secret.key.old-<UTC time>`` (0600) beside ``key_path``; returns its path.

    A key already kept (same content, e.g. when an interrupted rotation is finished) is not written twice.
    """
    for kept in _old_key_files(key_path):
        if kept.read_text(encoding="ascii", errors="replace").strip() == key_text.strip():
            return kept
    stamp = (now or datetime.now(UTC)).strftime(_STAMP)
    path = key_path.with_name(f"{key_path.name}{OLD_KEY_INFIX}{stamp}")
    n = 1
    while path.exists():
        path = key_path.with_name(f"{key_path.name}{OLD_KEY_INFIX}{stamp}-{n}")
        n += 1
    write_key_file(path, key_text)
    return path


def promote_next_key(key_path: Path) -> None:
    """Make the pending key the key in use: an atomic rename of ``secret.key.next`` over ``secret.key``."""
    os.replace(next_key_path(key_path), key_path)
    fsync_dir(key_path.parent)


def retired_keys(key_path: Path, within: timedelta, now: datetime | None = None) -> list[bytes]:
    """The keys retired by rotations in the last ``within`` (newest first), for checking what they signed."""
    now = now or datetime.now(UTC)
    out: list[tuple[datetime, bytes]] = []
    for path in _old_key_files(key_path):
        stamp = path.name.split(OLD_KEY_INFIX, 1)[1].split("-", 1)[0]
        try:
            retired = datetime.strptime(stamp, _STAMP).replace(tzinfo=UTC)
        except ValueError:
            continue
        if now - retired <= within:
            try:
                out.append((retired, load_key_file(path)))
            except (OSError, ConfigError):
                continue
    return [k for _, k in sorted(out, key=lambda t: t[0], reverse=True)]


def _old_key_files(key_path: Path) -> list[Path]:
    if not key_path.parent.is_dir():
        return []
    return sorted(key_path.parent.glob(f"{key_path.name}{OLD_KEY_INFIX}*"))
