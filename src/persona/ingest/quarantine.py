"""Quarantine files: every rejected row with its source line, the reason and the raw row (mode 0600).

A raw row may hold a person's e-mail address or phone number, so erasure takes a person's rows out of the
workspace's quarantine files (:func:`scrub_quarantine`), and ingestion quarantines no row of an erased customer.
Rows were rejected because they are malformed, so a person is found in the text, not in parsed columns
(:class:`PersonMatcher`): by their customer id as a whole field, their e-mail address or their phone number.
Writers append under an exclusive ``flock`` and check that the file they locked is still the one at the path;
a scrub rewrites a file to a temporary one and renames it over the original while holding that lock, so no row
appended meanwhile is lost.
"""

from __future__ import annotations

import csv
import fcntl
import io
import logging
import mmap
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

COLUMNS = ("line", "reason", "raw")
#: the header every quarantine file starts with (a file without it is never rewritten)
HEADER = (",".join(COLUMNS) + "\r\n").encode()
#: characters that end a field in the raw rows of CSV, TSV, JSON and SQL sources: a customer id counts as found only
#: between two of them (or the row's ends), so ``c1`` is not found in ``c10`` or ``abc1``
FIELD_EDGES = " \t\r\n,;|\"'{}[]:="
#: separators a phone number may be written with between its digits
_PHONE_SEPARATORS = r"[ \t\r\n\f\v().\-/]{0,3}"
_PHONE_SEPARATOR_BYTES = b" \t\r\n\f\v().-/"
#: how many trailing digits of a phone number identify it (country codes and trunk prefixes vary before them)
PHONE_DIGITS = 9
#: a phone number with fewer digits than this is too short to find anyone by
MIN_PHONE_DIGITS = 7
#: up to this many ids a file is searched for each id; more, and its tokens are compared to the set of ids
FIND_EACH_MAX = 32
_CHUNK = 8 << 20
_OVERLAP = 1024  # longer than an e-mail address, an id or a phone with its separators


class Quarantine:
    """Appends rejected rows to one CSV file, created on the first rejection."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0

    def write(self, rows: Iterable[tuple[int, str, str]]) -> int:
        """Append ``(line, reason, raw)`` rows and flush them to disk; returns how many."""
        rows = list(rows)
        if not rows:
            return 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # raw rows may hold PII (a rejected customer's e-mail): readable by the owner only
        with _locked(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND) as fd, \
                os.fdopen(os.dup(fd), "a", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh)
            if os.fstat(fd).st_size == 0:
                w.writerow(COLUMNS)
            w.writerows(rows)
        self.count += len(rows)
        return len(rows)

    def trim(self, rows: int) -> None:
        """Keep the header and the first ``rows`` rows; a file with none left is removed.

        Rows are appended before their chunk commits, so after a crash the file can hold rows of a chunk
        the database never recorded; a resumed run trims to the committed count before going on.
        """
        if not self.path.exists():
            return
        if rows <= 0:
            self.path.unlink(missing_ok=True)
            return
        try:
            with _locked(self.path, os.O_RDWR) as fd, os.fdopen(os.dup(fd), "rb+") as fh:
                keep = _offset_after(fh, rows + 1)  # +1: the header
                if keep is not None:
                    fh.truncate(keep)
        except FileNotFoundError:  # removed meanwhile (an erasure took its last rows)
            return

    @property
    def written(self) -> bool:
        return self.path.exists()


def _offset_after(fh: Any, records: int) -> int | None:
    """Byte offset just after the first ``records`` CSV records of a binary file (None if it has fewer)."""
    offset = 0

    def lines() -> Iterator[str]:
        nonlocal offset
        for line in fh:
            offset += len(line)
            yield line.decode("utf-8")

    reader = csv.reader(lines())
    for _ in range(records):
        if next(reader, None) is None:
            return None
    return offset


@contextmanager
def _locked(path: Path, flags: int) -> Iterator[int]:
    """A descriptor of the file now at ``path``, opened with ``flags`` and exclusively locked (``flock``): a file
    replaced or removed while waiting for the lock is opened again, so nothing is written to a file a scrub renamed
    away.

    Raises:
        FileNotFoundError: no file at ``path`` and ``flags`` do not create one.
    """
    while True:
        fd = os.open(path, flags, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                current = os.stat(path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                current = False
        except BaseException:
            os.close(fd)
            raise
        if current:
            break
        os.close(fd)
    try:
        yield fd
    finally:
        os.close(fd)  # closing lets go of the lock


@dataclass(frozen=True)
class Person:
    """What names one person in a quarantine row: their customer id, e-mail addresses and phone numbers (plain,
    as erasure decrypts them before blanking)."""

    customer_id: str
    emails: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()


def _phone_pattern(phone: str) -> str | None:
    """A regex for ``phone``'s last :data:`PHONE_DIGITS` digits however they are grouped (``+49 170 1234567``,
    ``0170-1234567`` and ``(0170) 123 45 67`` all end in ``170 123 4567``); None for too short a number."""
    digits = re.sub(r"\D", "", phone)
    if len(digits) < MIN_PHONE_DIGITS:
        return None
    return _PHONE_SEPARATORS.join(digits[-PHONE_DIGITS:]) + r"(?!\d)"


def _email_pattern(email: str) -> str | None:
    """A regex for ``email`` as a whole address, in any case (``ann@example.com`` is not in ``joann@example.com``)."""
    email = email.strip()
    if "@" not in email:
        return None
    return r"(?<![\w.+-])" + re.escape(email) + r"(?![\w-]|\.\w)"


class PersonMatcher:
    """Finds the quarantine rows that name any of ``people``: a customer id as a whole field (between two of
    :data:`FIELD_EDGES`), an e-mail address in any case, or a phone number however its digits are grouped,
    anywhere in the row (its reason and raw text).

    A short numeric id also matches another field that holds the same number (a quantity, say): such a row is
    taken out with the person's, which errs on the side of the erasure.
    """

    def __init__(self, people: Iterable[Person]) -> None:
        self._ids: dict[str, str] = {}
        self._odd_ids: list[tuple[str, str]] = []  # ids holding a field edge (a space, a colon): found by their edges
        self._texts: list[tuple[re.Pattern[str], str]] = []
        self._emails: set[bytes] = set()
        self._phones: set[bytes] = set()
        edges = set(FIELD_EDGES)
        for p in people:
            cid = str(p.customer_id).strip()
            if cid:
                if edges.isdisjoint(cid):
                    self._ids[cid] = p.customer_id
                else:
                    self._odd_ids.append((cid, p.customer_id))
            for pattern in [*map(_email_pattern, p.emails), *map(_phone_pattern, p.phones)]:
                if pattern:
                    self._texts.append((re.compile(pattern, re.IGNORECASE), p.customer_id))
            # what the whole-file check looks for: the lower-cased e-mails, the phones' last digits
            self._emails.update(e.strip().lower().encode() for e in p.emails if _email_pattern(e))
            self._phones.update(re.sub(r"\D", "", f)[-PHONE_DIGITS:].encode() for f in p.phones if _phone_pattern(f))
        self._split = str.maketrans(dict.fromkeys(FIELD_EDGES, "\n"))
        self._split_bytes = bytes.maketrans(FIELD_EDGES.encode(), b"\n" * len(FIELD_EDGES))
        self._id_bytes = [i.encode() for i in self._ids]
        self._id_set = frozenset(self._id_bytes)

    def __bool__(self) -> bool:
        return bool(self._ids or self._odd_ids or self._texts)

    def owner(self, text: str) -> str | None:
        """The customer id of a person ``text`` names, or None."""
        if self._ids:
            for token in text.translate(self._split).split("\n"):
                if token in self._ids:
                    return self._ids[token]
        for cid, owner in self._odd_ids:
            start = text.find(cid)
            while start != -1:
                end = start + len(cid)
                if (start == 0 or text[start - 1] in FIELD_EDGES) and (end == len(text) or text[end] in FIELD_EDGES):
                    return owner
                start = text.find(cid, start + 1)
        for pattern, owner in self._texts:
            if pattern.search(text):
                return owner
        return None

    def may_name(self, data: Any) -> bool:
        """Whether the bytes ``data`` (a file's content, or a memory map of it) may name one of the people: a cheap
        check over the whole file, true for every file :meth:`owner` finds a row in (and for a few more). It reads
        :data:`_CHUNK` bytes at a time (overlapping, so nothing is missed at a boundary) with byte-level searches only:
        e-mails in the lower-cased bytes, phones in the bytes without separators, ids one by one or, for many, as
        tokens looked up in their set."""
        return any(self._chunk_may_name(data[start:start + _CHUNK + _OVERLAP]) for start in range(0, len(data), _CHUNK))

    def _chunk_may_name(self, chunk: bytes) -> bool:
        if self._emails:
            low = chunk.lower()
            if any(low.find(e) != -1 for e in self._emails):
                return True
        if self._phones:
            squeezed = chunk.translate(None, _PHONE_SEPARATOR_BYTES)
            if any(squeezed.find(p) != -1 for p in self._phones):
                return True
        if any(chunk.find(cid.encode()) != -1 for cid, _ in self._odd_ids):
            return True
        if len(self._id_bytes) <= FIND_EACH_MAX:
            return any(chunk.find(b) != -1 for b in self._id_bytes)
        return not self._id_set.isdisjoint(chunk.translate(self._split_bytes).split(b"\n"))


@dataclass
class ScrubResult:
    """What a scrub of quarantine files found: rows per file and per person, files rewritten or removed, and the
    files it could not rewrite (with why)."""

    files: dict[str, int] = field(default_factory=dict)
    people: dict[str, int] = field(default_factory=dict)
    removed_files: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    scanned: int = 0

    @property
    def rows(self) -> int:
        return sum(self.files.values())

    def as_dict(self) -> dict[str, Any]:
        """Counts and file names (never a row's content)."""
        return {"scanned": self.scanned, "files": dict(self.files), "rows": self.rows, "removed_files": list(self.removed_files),
                "failed": dict(self.failed)}


def quarantine_files(folder: Path, also: Iterable[str | Path] = ()) -> list[Path]:
    """The quarantine files in ``folder`` (``*.csv``) and the other existing files ``also`` names (the paths ingest
    runs recorded), each once."""
    seen: dict[Path, Path] = {}
    candidates = sorted(folder.glob("*.csv")) if folder.is_dir() else []
    for p in [*candidates, *(Path(a) for a in also if a)]:
        try:
            if p.is_file() and not p.name.startswith("."):
                seen.setdefault(p.resolve(), p)
        except OSError:
            continue
    return list(seen.values())


def _rows(data: bytes) -> Iterator[list[str]]:
    from persona.ingest.readers import MAX_FIELD

    csv.field_size_limit(MAX_FIELD)  # the limit ingestion reads with (the setting is the process's)
    return csv.reader(io.StringIO(data.decode("utf-8", errors="replace"), newline=""))


def _match_rows(data: bytes, matcher: PersonMatcher, counts: dict[str, int]) -> tuple[list[list[str]], int]:
    """The rows (after the header) that name nobody, and how many did (counted by person into ``counts``)."""
    rows = _rows(data)
    next(rows, None)
    kept, gone = [], 0
    for row in rows:
        owner = matcher.owner("\n".join(row[1:])) if len(row) > 1 else None
        if owner is None:
            kept.append(row)
        else:
            gone += 1
            counts[owner] = counts.get(owner, 0) + 1
    return kept, gone


def _content(fd: int) -> tuple[Any, Any]:
    """A read-only memory map of the file (or its bytes when empty) and what to close afterwards."""
    size = os.fstat(fd).st_size
    if size == 0:
        return b"", None
    mm = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
    return mm, mm


def scrub_quarantine(files: Iterable[Path], matcher: PersonMatcher, *, apply: bool = True) -> ScrubResult:
    """Take the rows that name any of ``matcher``'s people out of quarantine ``files``.

    Each file is first searched as a whole (:meth:`PersonMatcher.may_name`, a memory-mapped scan), so files naming
    nobody are only read once; a file with such rows is rewritten without them to a temporary file beside it
    (mode 0600, synced) that replaces it under its writers' lock, or removed when no row is left. A file that does
    not start with the quarantine header is left alone. With ``apply`` false nothing changes: the rows are counted.
    """
    out = ScrubResult()
    if not matcher:
        return out
    for path in files:
        out.scanned += 1
        try:
            _scrub_one(path, matcher, out, apply)
        except FileNotFoundError:
            continue
        except (OSError, csv.Error) as exc:
            out.failed[path.name] = f"{type(exc).__name__}: {getattr(exc, 'strerror', None) or exc}"
            log.warning("quarantine scrub file=%s failed: %s", path.name, type(exc).__name__)
    return out


def _scrub_one(path: Path, matcher: PersonMatcher, out: ScrubResult, apply: bool) -> None:
    with _locked(path, os.O_RDONLY) as fd:
        data, closing = _content(fd)
        try:
            if data[:len(HEADER)] != HEADER or not matcher.may_name(data):
                return
            kept, gone = _match_rows(bytes(data), matcher, out.people)
        finally:
            if closing is not None:
                closing.close()
        if not gone:
            return
        out.files[path.name] = gone
        if not apply:
            return
        if not kept:
            path.unlink()
            out.removed_files.append(path.name)
            return
        tmp_fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # mode 0600
        try:
            with os.fdopen(tmp_fd, "w", encoding="utf-8", newline="") as fh:
                w = csv.writer(fh)
                w.writerow(COLUMNS)
                w.writerows(kept)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)  # while the lock is held: a writer waiting for it reopens the new file
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
