"""Quarantine files: every rejected row with its source line, the reason and the raw row (mode 0600)."""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

COLUMNS = ("line", "reason", "raw")


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
        new = not self.path.exists()
        # raw rows may hold PII (a rejected customer's e-mail): readable by the owner only
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh)
            if new:
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
            self.path.unlink()
            return
        with open(self.path, "rb+") as fh:
            keep = _offset_after(fh, rows + 1)  # +1: the header
            if keep is not None:
                fh.truncate(keep)

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
